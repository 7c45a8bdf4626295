// Panel 7: one hidden unit at a time, the input coloured by its activation.
import { diverging, inkOn, lineChart, maxAbs } from "../charts.js";
import { tableBehind } from "../tables.js";
import { clear, el, fmt, showChar } from "../util.js";

let ctx;
let root;

export function init(context) {
  ctx = context;
  root = ctx.panel("neuron");
  const input = document.getElementById("unit");
  input.addEventListener("change", () => {
    const value = Number(input.value);
    if (Number.isInteger(value)) ctx.select({ unit: value });
  });
  document.getElementById("unit-prev").addEventListener("click", () => ctx.select({ unit: ctx.state.unit - 1 }));
  document.getElementById("unit-next").addEventListener("click", () => ctx.select({ unit: ctx.state.unit + 1 }));
  ctx.on("run", render);
  ctx.on("select", render);
}

/** Units ordered by how much they change from step to step (mean |h_t − h_{t−1}|). */
function mostActive(hidden, count) {
  const H = hidden[0].length;
  const scores = [];
  for (let u = 0; u < H; u++) {
    let change = 0;
    for (let t = 1; t < hidden.length; t++) change += Math.abs(hidden[t][u] - hidden[t - 1][u]);
    scores.push([change, u]);
  }
  return scores.sort((a, b) => b[0] - a[0]).slice(0, count).map(([, u]) => u);
}

function render() {
  const { state } = ctx;
  const run = state.run;
  if (!run) return;
  const unit = Math.min(state.unit, run.hidden_size - 1);
  const input = document.getElementById("unit");
  input.max = String(run.hidden_size - 1);
  input.value = String(unit);
  const chips = clear(document.getElementById("unit-suggestions"));
  for (const u of mostActive(run.hidden, 6)) {
    chips.append(el("button", { class: u === unit ? "active" : "", text: String(u), onclick: () => ctx.select({ unit: u }) }));
  }
  const column = run.hidden.map((row) => row[unit]);
  // colours span this unit's own range, so that a quiet unit's pattern shows too
  const max = Math.max(0.05, maxAbs([column]));
  const box = clear(document.getElementById("neuron-text"));
  run.labels.forEach((label, t) => {
    const text = run.kind === "text" ? (label === "\n" ? "↵\n" : label) : label;
    const span = el("span", { class: (run.kind === "text" ? "" : "val") + (t === state.t ? " selected" : ""), title: `step ${t + 1} '${showChar(run.labels[t])}': h[${unit}] = ${fmt(column[t], 3)}`, dataset: { t, value: column[t] } }, text);
    const fill = diverging(column[t], max);
    span.style.background = fill;
    span.style.color = inkOn(fill); // black or white, whichever reads on this colour
    span.addEventListener("click", () => ctx.select({ t }));
    box.append(span);
  });
  lineChart(document.getElementById("neuron-chart"), {
    series: [{ label: `h[${unit}]`, color: "#4f46e5", points: column.map((v, t) => [t + 1, v]), dots: true }],
    refs: [{ y: 0, label: "" }],
    xLabel: "time step t",
    yLabel: `h[${unit}] (unit ${unit})`,
  });
  document.getElementById("neuron-chart").setAttribute("aria-label", `unit ${unit}'s value at each of the ${run.steps} steps, from ${fmt(Math.min(...column), 2)} to ${fmt(Math.max(...column), 2)}; the table below holds the numbers`);
  tableBehind(document.getElementById("neuron-table-box"), () => ({
    caption: `h[${unit}] after reading each input`,
    head: ["step t", "input", `h[${unit}]`],
    rows: column.map((v, t) => [t + 1, run.kind === "text" || run.seq2seq ? showChar(run.labels[t]) : run.labels[t], fmt(v, 3)]),
  }));
  const lo = Math.min(...column);
  const hi = Math.max(...column);
  const layer = run.layers > 1 ? ` of layer ${run.layer + 1}` : "";
  document.getElementById("neuron-caption").textContent =
    `Unit ${unit}${layer} over the sequence: from ${fmt(lo, 2)} to ${fmt(hi, 2)} ` +
    `(the colours span ±${fmt(max, 2)}). ` +
    "Click an input to select its step; try the liveliest units first.";
  root.dataset.unit = String(unit);
  root.dataset.ready = "true";
}
