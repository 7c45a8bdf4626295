// Small helpers shared by every panel: DOM building, number and character display.

export const SVG_NS = "http://www.w3.org/2000/svg";

// The registered cells' names for people, filled from /api/lab at start (setCells).
export const CELL_NAMES = {};

/** Take the cells the server's registry lists: cellInfo is {name: {title, gates}}. */
export function setCells(cellInfo) {
  for (const [name, info] of Object.entries(cellInfo)) CELL_NAMES[name] = info.title;
}

const FAMILY_COLORS = { rnn: "#e8772e", lstm: "#2f6fde", gru: "#1c9a6c", indrnn: "#8e44ad" };

/** A cell's colour in the charts: its family's (rnn_tanh and rnn_relu share one). */
export function cellColor(cell) {
  return FAMILY_COLORS[cell.split("_")[0]] ?? "#6b6b6b";
}

/** An HTML element: el("div", {class: "x", dataset: {a: 1}}, child, "text"). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  setAttrs(node, attrs);
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

/** An SVG element with attributes. */
export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  setAttrs(node, attrs);
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function setAttrs(node, attrs) {
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
}

/** A number with `digits` decimals and a real minus sign. */
export function fmt(value, digits = 3) {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  const text = Number(value).toFixed(digits);
  return text.startsWith("-") ? "−" + text.slice(1) : text;
}

/** A number for an equation: negative ones in parentheses when they follow a sign. */
export function term(value, digits = 3) {
  const text = fmt(value, digits);
  return value < 0 ? `(${text})` : text;
}

/** Scientific notation for values spanning many decades: 3.1×10⁻⁵. */
export function sci(value) {
  if (value === null || value === undefined) return "—";
  if (value === 0) return "0";
  const exponent = Math.floor(Math.log10(Math.abs(value)));
  if (exponent >= -2 && exponent <= 3) return fmt(value, exponent < 0 ? 4 : 2);
  const mantissa = value / 10 ** exponent;
  return `${mantissa.toFixed(1)}×10${superscript(exponent)}`;
}

export function superscript(n) {
  const digits = "⁰¹²³⁴⁵⁶⁷⁸⁹";
  return String(n).replace("-", "⁻").replace(/\d/g, (d) => digits[d]);
}

/** A character made visible: space → ␣, newline → ↵, tab → ⇥. */
export function showChar(c) {
  return { " ": "␣", "\n": "↵", "\t": "⇥" }[c] ?? c;
}

/** True if a run's inputs are characters: text, or the source of a seq2seq model. */
export function charInputs(run) {
  return run.kind === "text" || Boolean(run.seq2seq);
}

/** The percentage of a probability, one decimal. */
export function pct(p) {
  return `${(100 * p).toFixed(1)}%`;
}

/** Shannon entropy in bits of probabilities (renormalised to sum to 1). */
export function entropyBits(probs) {
  const total = probs.reduce((a, b) => a + b, 0);
  if (!(total > 0)) return 0;
  return -probs.reduce((h, p) => (p > 0 ? h + (p / total) * Math.log2(p / total) : h), 0);
}

/** Show `message` (or clear it) in the panel's error line. */
export function showError(panel, message) {
  const line = panel.querySelector("[data-error]");
  if (line) line.textContent = message ? String(message) : "";
}

/** Call `fn` at most once per `ms`, always with the latest arguments. */
export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** Remove every child of `node`. */
export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}
