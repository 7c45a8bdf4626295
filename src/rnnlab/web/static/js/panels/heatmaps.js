// Panel 4: hidden states (and cell state and gates) as heatmaps, time × units.
import { drawHeatmap, legend, maxAbs } from "../charts.js";
import { charInputs, clear, el, fmt, showChar } from "../util.js";
import { math } from "./equations.js";

let ctx;
let root;

const TITLES = {
  i: ["input gate i_{t}", "how much of the candidate is written"],
  f: ["forget gate f_{t}", "how much of the old memory is kept"],
  g: ["candidate g_{t}", "what would be written"],
  o: ["output gate o_{t}", "how much of the memory is shown as h_{t}"],
  r: ["reset gate r_{t}", "how much of h_{t−1} the candidate may read"],
  z: ["update gate z_{t}", "how much of the new candidate is taken"],
  n: ["candidate n_{t}", "the proposed new state"],
};

export function init(context) {
  ctx = context;
  root = ctx.panel("heatmap");
  document.getElementById("layer").addEventListener("change", (event) => {
    ctx.state.layer = Number(event.target.value);
    ctx.refreshRun().then(() => ctx.emit("refresh-gradients"));
  });
  ctx.on("run", render);
  ctx.on("select", render);
  let resizeTimer;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(render, 150);
  });
}

function render() {
  const { state } = ctx;
  const run = state.run;
  if (!run) return;
  const layer = document.getElementById("layer");
  document.getElementById("layer-row").hidden = run.layers < 2;
  if (layer.options.length !== run.layers) {
    clear(layer).append(...Array.from({ length: run.layers }, (_, k) => el("option", { value: k, text: String(k + 1) })));
  }
  layer.value = String(run.layer);
  const bounded = run.cell !== "rnn_relu";
  const hiddenMax = bounded ? 1 : maxAbs(run.hidden);
  legend(document.getElementById("heatmap-legend"), hiddenMax, "blue positive · red negative · white 0");
  const box = clear(document.getElementById("heatmaps"));
  const width = box.clientWidth || 1000;
  const hiddenTitle = run.projection
    ? ["cell output h̃_{t} = o_{t} ⊙ tanh(c_{t})", `one value per unit, before W_{hr} projects it to the ${run.projection} units of h_{t}`]
    : ["hidden state h_{t}", "what the cell passes on, and reads out"];
  const maps = [{ kind: "hidden", title: hiddenTitle, data: run.hidden, max: hiddenMax, full: true }];
  if (run.cell_state) {
    maps.push({ kind: "cell", title: ["cell state c_{t}", "the LSTM's memory; not squashed, so it can grow beyond ±1"], data: run.cell_state, max: Math.max(1, maxAbs(run.cell_state)), full: true });
  }
  for (const [gate, data] of Object.entries(run.gates)) {
    maps.push({ kind: "gate", gate, title: TITLES[gate], data, max: 1 });
  }
  const T = run.steps;
  const H = run.hidden_size;
  for (const map of maps) {
    const available = (map.full ? width : Math.max(400, width / 2 - 12)) - 40;
    const cellW = Math.max(1, Math.min(18, Math.floor(available / T)));
    const cellH = Math.max(1, Math.min(map.full ? 10 : 6, Math.floor((map.full ? 260 : 150) / H)));
    const canvas = el("canvas", { class: "heatmap", dataset: { kind: map.kind, gate: map.gate ?? "" } });
    let range = map.max === 1 ? "" : ` (colour range ±${fmt(map.max, 1)})`;
    if (map.kind === "gate" && "ifozr".includes(map.gate)) range = " · white 0 closed, blue 1 open";
    const head = el("h3", {}, math(map.title[0]), " ", el("small", {}, math(`— ${map.title[1]}${range}`)));
    box.append(el("div", { class: "heatmap-box" + (map.full ? " full" : "") }, head, canvas));
    drawHeatmap(canvas, map.data, {
      cellW,
      cellH,
      max: map.max,
      labels: run.labels,
      selected: { t: state.t, unit: state.unit },
      onHover: (t, u, v, event) => hover(run, map, t, u, v, event),
      onLeave: () => (document.getElementById("tooltip").hidden = true),
      onClick: (t, u) => ctx.select({ t, unit: u }),
    });
  }
  root.dataset.maps = String(maps.length);
  root.dataset.gates = String(Object.keys(run.gates).length);
  root.dataset.ready = "true";
}

function hover(run, map, t, u, v, event) {
  const tip = document.getElementById("tooltip");
  const input = charInputs(run) ? `'${showChar(run.labels[t])}'` : run.labels[t];
  tip.replaceChildren(el("div", {}, el("b", {}, math(map.title[0].replace("_{t}", `_{${t + 1}}`)))), el("div", { text: `step ${t + 1} (input ${input}), unit ${u}: ${fmt(v, 3)}` }));
  tip.hidden = false;
  tip.style.left = `${Math.min(event.clientX + 14, window.innerWidth - 260)}px`;
  tip.style.top = `${event.clientY + 16}px`;
}
