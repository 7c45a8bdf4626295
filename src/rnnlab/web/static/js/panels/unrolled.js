// Panel 3: the cell drawn once per time step — input below, state along, output above.
import { diverging, maxAbs } from "../charts.js";
import { tableBehind } from "../tables.js";
import { hidePopup, movePopup, showPopup } from "../popup.js";
import { player, speedInAddress } from "../player.js";
import { CELL_NAMES, charInputs, clear, el, fmt, pct, showChar, svg } from "../util.js";
import { math, stepEquations, whereText } from "./equations.js";

let ctx;
let root;
speedInAddress("uspeed", "unrolled-speed");
const STEP_W = 118;
const BOX = 76; // the cell's square
const Y = { out: 8, cell: 96, token: 238 };

export function init(context) {
  ctx = context;
  root = ctx.panel("unrolled");
  const slider = document.getElementById("step-slider");
  slider.addEventListener("input", () => ctx.select({ t: Number(slider.value) }));
  document.getElementById("step-prev").addEventListener("click", () => ctx.select({ t: ctx.state.t - 1 }));
  document.getElementById("step-next").addEventListener("click", () => ctx.select({ t: ctx.state.t + 1 }));
  const picture = document.getElementById("unrolled");
  picture.addEventListener("keydown", (event) => {
    const moves = { ArrowLeft: -1, ArrowRight: 1, Home: -Infinity, End: Infinity };
    if (!(event.key in moves)) return;
    event.preventDefault();
    ctx.select({ t: Math.max(0, Math.min(ctx.state.t + moves[event.key], (ctx.state.run?.steps ?? 1) - 1)) });
  });
  ctx.on("run", render);
  ctx.on("select", render);
  // play walks the selected step forward, and the whole page follows as with the slider
  const last = () => (ctx.state.run?.steps ?? 1) - 1;
  player(document.getElementById("unrolled-player"), {
    what: "the time steps",
    interval: 700,
    stepName: "the next time step",
    resetName: "back to step 1",
    start: async () => {
      if (!ctx.state.run) return false;
      if (ctx.state.t >= last()) ctx.select({ t: 0 }); // from the start again
      return true;
    },
    advance: async () => {
      if (!ctx.state.run || ctx.state.t >= last()) return false;
      ctx.select({ t: ctx.state.t + 1 });
      return ctx.state.t < last();
    },
    reset: async () => ctx.select({ t: 0 }),
  });
  window.addEventListener("resize", () => render());
}

function arrow(x1, y1, x2, y2, cls = "") {
  const head = svg("path", { d: "M0,0 L-7,-4 L-7,4 Z", fill: cls === "c" ? "#a58b2a" : "#7d86a3" });
  const angle = (Math.atan2(y2 - y1, x2 - x1) * 180) / Math.PI;
  head.setAttribute("transform", `translate(${x2},${y2}) rotate(${angle})`);
  return svg("g", {}, svg("path", { class: `arrow ${cls}`, d: `M${x1},${y1}L${x2},${y2}` }), head);
}

/** The hidden state as a little square picture, one cell per unit. */
function stateGrid(x, y, values, max, unit) {
  const H = values.length;
  const cols = Math.ceil(Math.sqrt(H));
  const rows = Math.ceil(H / cols);
  const size = Math.min(56 / cols, 56 / rows);
  const g = svg("g", {});
  const x0 = x + (BOX - cols * size) / 2;
  const y0 = y + 14 + (56 - rows * size) / 2;
  values.forEach((v, k) => {
    g.append(svg("rect", { x: x0 + (k % cols) * size, y: y0 + Math.floor(k / cols) * size, width: size, height: size, fill: diverging(v, max) }));
  });
  if (unit < H) {
    g.append(svg("rect", { class: "unit-mark", x: x0 + (unit % cols) * size, y: y0 + Math.floor(unit / cols) * size, width: size, height: size }));
  }
  return g;
}

function render() {
  const { state } = ctx;
  const run = state.run;
  if (!run) return;
  const host = document.getElementById("unrolled");
  const slider = document.getElementById("step-slider");
  slider.max = String(run.steps - 1);
  slider.value = String(state.t);
  document.getElementById("step-label").textContent = `t = ${state.t + 1} / ${run.steps}`;
  slider.setAttribute("aria-valuetext", `step ${state.t + 1} of ${run.steps}, input ${charInputs(run) ? `'${showChar(run.labels[state.t])}'` : run.labels[state.t]}`);
  const width = host.clientWidth || 900;
  const visible = Math.max(1, Math.min(run.steps, Math.floor((width - 70) / STEP_W)));
  const start = Math.max(0, Math.min(state.t - Math.floor(visible / 2), run.steps - visible));
  host.setAttribute("viewBox", `0 0 ${width} 290`);
  clear(host);
  const max = run.cell === "rnn_relu" ? maxAbs(run.hidden) : 1;
  const lstm = run.cell.startsWith("lstm");
  const left = 62;
  // where the state comes from: zero at the start, or the step before the window
  if (start === 0) {
    host.append(svg("text", { class: "small", x: 4, y: Y.cell + BOX / 2 - 8, text: lstm ? "h₀, c₀ = 0" : "h₀ = 0" }));
  } else {
    // the window starts later: name the states coming in, each above its own arrow
    host.append(svg("text", { class: "small", x: 4, y: Y.cell + BOX / 2 + 1, text: `… h${start}` }));
    if (lstm) host.append(svg("text", { class: "small", x: 4, y: Y.cell + 7, text: `… c${start}` }));
  }
  for (let k = 0; k < visible; k++) {
    const t = start + k;
    const x = left + k * STEP_W;
    const g = svg("g", { class: "step" + (t === state.t ? " selected" : ""), dataset: { t } });
    // recurrent arrows into this step
    const xFrom = k === 0 ? 4 + 52 : x - STEP_W + BOX;
    g.append(arrow(xFrom, Y.cell + BOX / 2 + 6, x - 2, Y.cell + BOX / 2 + 6));
    if (lstm) g.append(arrow(xFrom, Y.cell + 12, x - 2, Y.cell + 12, "c"));
    if (k > 0) {
      g.append(svg("text", { class: "small", x: (xFrom + x) / 2, y: Y.cell + BOX / 2 + 20, "text-anchor": "middle", text: `h${t}` }));
      if (lstm) g.append(svg("text", { class: "small", x: (xFrom + x) / 2, y: Y.cell + 6, "text-anchor": "middle", text: `c${t}` }));
    }
    // the cell with its state
    g.append(svg("rect", { class: "cellbox", x, y: Y.cell, width: BOX, height: BOX, rx: 10 }));
    g.append(svg("text", { class: "small", x: x + 6, y: Y.cell + 11, text: `t=${t + 1}` }));
    g.append(stateGrid(x, Y.cell, run.hidden[t], max, run.unit));
    // input below
    g.append(arrow(x + BOX / 2, Y.token - 4, x + BOX / 2, Y.cell + BOX + 4));
    g.append(svg("rect", { class: "tokenbox", x: x + BOX / 2 - 26, y: Y.token, width: 52, height: 36, rx: 7 }));
    const label = charInputs(run) ? showChar(run.labels[t]) : run.labels[t];
    const tokenClass = charInputs(run) ? "token" : "token numeric";
    g.append(svg("text", { class: tokenClass, x: x + BOX / 2, y: Y.token + 23, "text-anchor": "middle", text: label }));
    // output above
    g.append(arrow(x + BOX / 2, Y.cell - 4, x + BOX / 2, Y.out + 58));
    g.append(...output(run, t, x));
    g.addEventListener("mouseenter", (event) => tooltip(g, run, t, event));
    g.addEventListener("mousemove", movePopup);
    g.addEventListener("mouseleave", hidePopup);
    g.addEventListener("click", () => ctx.select({ t }));
    host.append(g);
  }
  const shownFrom = `steps ${start + 1}–${start + visible} of ${run.steps} are drawn; step ${state.t + 1} is selected`;
  host.setAttribute("aria-label", `The network unrolled through time: ${shownFrom}. Left and right arrow keys move the selected step; the table below holds every step's numbers.`);
  tableBehind(document.getElementById("unrolled-table-box"), () => table(run));
  root.dataset.steps = String(run.steps);
  root.dataset.ready = "true";
}

/** Every step's input, output and the size of its hidden state. */
function table(run) {
  const norm = (h) => fmt(Math.sqrt(h.reduce((s, v) => s + v * v, 0)), 3);
  const input = (t) => (charInputs(run) ? showChar(run.labels[t]) : run.labels[t]);
  if (run.kind === "text") {
    return {
      caption: "Each step: the input, the likeliest next character and its probability, the real next character and its probability, ‖h_t‖.",
      head: ["step t", "input", "likeliest next", "its p", "real next", "its p", "‖h_t‖"],
      rows: run.labels.map((_, t) => {
        const p = run.predictions[t];
        const real = t + 1 < run.steps ? showChar(run.labels[t + 1]) : "—";
        return [t + 1, input(t), showChar(p.top[0][0]), pct(p.top[0][1]), real, p.actual === undefined ? "—" : pct(p.actual), norm(run.hidden[t])];
      }),
    };
  }
  if (run.seq2seq) {
    return {
      caption: "Each encoder step: the source character read and ‖h_t‖ (h_t is that position's key).",
      head: ["step t", "input", "‖h_t‖"],
      rows: run.labels.map((_, t) => [t + 1, input(t), norm(run.hidden[t])]),
    };
  }
  return {
    caption: "Each step: the input, the network's output y_t, the target and ‖h_t‖.",
    head: ["step t", "input", "output y_t", "target", "‖h_t‖"],
    rows: run.labels.map((_, t) => [t + 1, input(t), fmt(run.outputs[t], 3), fmt(run.targets[t], 3), norm(run.hidden[t])]),
  };
}

function output(run, t, x) {
  const cx = x + BOX / 2;
  if (run.seq2seq) {
    // the encoder's outputs are the attention's keys; its last state starts the decoder
    const last = t === run.steps - 1;
    const none = run.seq2seq.attention === "none";
    const main = none ? (last ? `h${t + 1}` : "—") : `k${t + 1}`;
    const note = none ? (last ? "→ decoder" : "not read") : last ? "key, → decoder" : "key for attention";
    return [
      svg("rect", { class: "outbox", x: cx - 44, y: Y.out, width: 88, height: 54, rx: 7 }),
      svg("text", { x: cx, y: Y.out + 24, "text-anchor": "middle", "font-size": 15, text: main }),
      svg("text", { class: "small", x: cx, y: Y.out + 44, "text-anchor": "middle", text: note }),
    ];
  }
  if (run.kind === "text") {
    const p = run.predictions[t];
    const [symbol, prob] = p.top[0];
    const hit = run.labels[t + 1] === symbol;
    return [
      svg("rect", { class: "outbox" + (hit ? " hit" : ""), x: cx - 40, y: Y.out, width: 80, height: 54, rx: 7 }),
      svg("text", { class: "token", x: cx, y: Y.out + 24, "text-anchor": "middle", text: showChar(symbol) }),
      svg("text", { class: "small", x: cx, y: Y.out + 44, "text-anchor": "middle", text: `next? ${pct(prob)}` }),
    ];
  }
  const close = Math.abs(run.outputs[t] - run.targets[t]) < 0.1;
  return [
    svg("rect", { class: "outbox" + (close ? " hit" : ""), x: cx - 40, y: Y.out, width: 80, height: 54, rx: 7 }),
    svg("text", { x: cx, y: Y.out + 22, "text-anchor": "middle", "font-size": 13, text: `y = ${fmt(run.outputs[t], 2)}` }),
    svg("text", { class: "small", x: cx, y: Y.out + 42, "text-anchor": "middle", text: `target ${fmt(run.targets[t], 2)}` }),
  ];
}

function tooltip(owner, run, t, event) {
  const h = run.hidden[t];
  const norm = Math.sqrt(h.reduce((s, v) => s + v * v, 0));
  const lines = stepEquations(run, t).filter((line) => line.key || line.general.startsWith("y"));
  showPopup(
    owner,
    event,
    el("div", {}, el("b", {}, math(whereText(run, t)))),
    el("div", { text: `${CELL_NAMES[run.cell]}: ‖h‖ = ${fmt(norm, 2)} over ${h.length} units` }),
    ...lines.map((line) => el("div", { class: "eq" }, math(line.live))),
  );
}
