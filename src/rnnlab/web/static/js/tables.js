// The numbers behind a chart, as a table behind a toggle: every chart's text alternative.
import { el } from "./util.js";

/**
 * The numbers behind a chart, as a table inside `details` (a "…as a table" toggle): built
 * when it is opened, rebuilt while open when the chart changes. build() → {caption,
 * head: [column titles], rows: [[first cell (a row header), ...cells]]}.
 */
export function tableBehind(details, build) {
  details._build = build;
  if (!details._wired) {
    details._wired = true;
    details.addEventListener("toggle", () => details.open && fillTable(details));
  }
  if (details.open) fillTable(details);
}

function fillTable(details) {
  const { caption, head, rows } = details._build();
  const table = el("table", { class: "weights" });
  table.append(el("caption", { text: caption }));
  table.append(el("thead", {}, el("tr", {}, ...head.map((h) => el("th", { scope: "col", text: h })))));
  const body = el("tbody");
  for (const [first, ...cells] of rows) {
    body.append(el("tr", {}, el("th", { scope: "row", text: String(first) }), ...cells.map((c) => el("td", { text: String(c) }))));
  }
  table.append(body);
  let wrap = details.querySelector(".table-wrap");
  if (!wrap) details.append((wrap = el("div", { class: "table-wrap", tabindex: "0", role: "region" })));
  wrap.setAttribute("aria-label", `table: ${caption}`); // each region named for its own numbers
  wrap.replaceChildren(table);
}
