// Panel 5's bars: a next-character distribution on an absolute 0–100 % scale.
import { clear, el, entropyBits, pct, showChar } from "./util.js";

/**
 * Horizontal bars for a next-character distribution, on an absolute 0–100 % scale (a bar
 * as long as its track is probability 1). items: [{symbol, p, q, rank}]; opts: {chosen
 * (the item the sampler drew, shown as an extra row when it is not among the items),
 * filtered (top-k / top-p are on: q says what the sampler can draw)}. The container's
 * data-entropy holds the entropy in bits of the bars shown (renormalised), each row's
 * data-prob its probability p.
 */
export function barChart(container, items, opts = {}) {
  const { chosen = null, filtered = false } = opts;
  clear(container);
  container.classList.toggle("filtered", filtered);
  container.append(
    el(
      "div",
      { class: "bar-head", "aria-hidden": "true" },
      el("span", { text: "next" }),
      el("span", { text: "probability p (the track is 100 %)" }),
      el("span", { text: "p" }),
      filtered ? el("span", { text: "drawn with" }) : null,
    ),
  );
  const row = (item, extra = "") => {
    const cut = filtered && !(item.q > 0);
    const drawn = chosen !== null && item.symbol === chosen.symbol;
    const cls = "bar-row" + (cut ? " cut" : "") + (drawn ? " chosen" : "") + extra;
    const name = item.symbol === "\n" ? "newline" : item.symbol === " " ? "space" : `'${item.symbol}'`;
    const said = `${name}: p = ${pct(item.p)}` + (filtered ? (cut ? ", cut: cannot be drawn" : `, drawn with ${pct(item.q)}`) : "") + (drawn ? ", the one drawn" : "");
    const fill = el("span", { class: "fill" });
    fill.style.width = `${Math.min(100, 100 * item.p)}%`;
    return el(
      "div",
      { class: cls, role: "listitem", "aria-label": said, dataset: { symbol: item.symbol, prob: String(item.p), q: String(item.q ?? item.p), rank: String(item.rank ?? "") } },
      el("span", { class: "sym", text: showChar(item.symbol), title: JSON.stringify(item.symbol) }),
      el("span", { class: "track", "aria-hidden": "true" }, fill, drawn ? el("span", { class: "badge", text: "◀ drawn" }) : null),
      el("span", { class: "pct", text: pct(item.p) }),
      filtered ? el("span", { class: "q", text: cut ? "cut" : pct(item.q) }) : null,
    );
  };
  const list = el("div", { class: "bar-list", role: "list" });
  for (const item of items) list.append(row(item));
  if (chosen !== null && !items.some((i) => i.symbol === chosen.symbol)) {
    list.append(el("div", { class: "bar-gap", "aria-hidden": "true", text: `⋮ ranks ${items.length + 1}–${chosen.rank - 1} not shown` }));
    list.append(row(chosen, " extra"));
  }
  container.append(list);
  container.append(
    el(
      "div",
      { class: "bar-scale", "aria-hidden": "true" },
      el("span"),
      el("span", { class: "ticks" }, ...["0", "25", "50", "75", "100 %"].map((t) => el("span", { text: t }))),
    ),
  );
  const entropy = entropyBits(items.map((i) => i.p));
  container.dataset.entropy = String(entropy);
  return entropy;
}
