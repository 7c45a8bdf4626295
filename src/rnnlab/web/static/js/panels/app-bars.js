// The applications panel's bars: probabilities (or rates) on an absolute 0–100 % scale,
// a row a button when it can be chosen (a next word to append).
import { clear, el, pct } from "../util.js";

/** Bars on 0–100 % (a bar as long as its track is 1). rows: [{name, p, said, pick,
 * muted}]; a row with `pick` is a button that calls it. head: what the names are;
 * measure: what p is. */
export function bars(container, rows, head, measure = "probability") {
  clear(container);
  container.classList.toggle("picks", rows.some((row) => row.pick));
  container.append(
    el("div", { class: "bar-head", "aria-hidden": "true" }, el("span", { text: head }), el("span", { text: `${measure} (the track is 100 %)` }), el("span", { text: "p" })),
  );
  const list = el("div", { class: "bar-list", role: "list" });
  for (const row of rows) {
    const fill = el("span", { class: "fill" });
    fill.style.width = `${Math.min(100, 100 * row.p)}%`;
    // spaces between the parts: no gap in the grid, but "And 0.2%" read out, not "And0.2%"
    const parts = [el("span", { class: "sym", text: row.name, title: row.said ?? row.name }), " ", el("span", { class: "track", "aria-hidden": "true" }, fill), " ", el("span", { class: "pct", text: pct(row.p) })];
    const said = `${row.said ?? row.name}: ${pct(row.p)}`;
    const data = { prob: String(row.p), name: row.name };
    if (row.pick) {
      // named by what it shows first (as axe's label-in-name asks), then what it does
      const named = `${row.name} ${pct(row.p)}${row.said && row.said !== row.name ? ` (${row.said})` : ""}; append it`;
      const button = el("button", { class: "bar-row pick", type: "button", "aria-label": named, dataset: data, onclick: row.pick }, ...parts);
      list.append(el("div", { role: "listitem" }, button));
    } else {
      list.append(el("div", { class: `bar-row${row.muted ? " muted-row" : ""}`, role: "listitem", "aria-label": said, dataset: data }, ...parts));
    }
  }
  const ticks = el("span", { class: "ticks" }, ...["0", "25", "50", "75", "100 %"].map((t) => el("span", { text: t })));
  container.append(list, el("div", { class: "bar-scale", "aria-hidden": "true" }, el("span"), ticks));
}
