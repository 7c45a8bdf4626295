// Panel 4: hidden states (and cell state and gates) as heatmaps, time × units.
// Each map is a focusable canvas walked with the arrow keys; the cell under the keyboard
// (or the pointer) is read out in a live line, and its numbers are in a table behind a toggle.
import { drawHeatmap, legend, maxAbs } from "../charts.js";
import { tableBehind } from "../tables.js";
import { hidePopup, movePopup, showPopup } from "../popup.js";
import { charInputs, clear, el, fmt, showChar } from "../util.js";
import { math } from "./equations.js";

let ctx;
let root;
let maps = []; // what render drew: [{kind, gate, title, data, max, canvas, draw}]
const cursor = { t: 0, u: 0 }; // the keyboard's cell, shared by every map
let walked = false; // true once the arrow keys moved the cursor away from the selection

const TITLES = {
  i: ["input gate i_{t}", "how much of the candidate is written"],
  f: ["forget gate f_{t}", "how much of the old memory is kept"],
  g: ["candidate g_{t}", "what would be written"],
  o: ["output gate o_{t}", "how much of the memory is shown as h_{t}"],
  r: ["reset gate r_{t}", "how much of h_{t−1} the candidate may read"],
  z: ["update gate z_{t}", "how much of the new candidate is taken"],
  n: ["candidate n_{t}", "the proposed new state"],
};

/** A map's name in plain words (for the read-out and the table): "hidden state h". */
function plainName(map) {
  return map.title[0].replace(/_\{t\}/g, "").replace(/_\{([^}]*)\}/g, "$1");
}

export function init(context) {
  ctx = context;
  root = ctx.panel("heatmap");
  document.getElementById("layer").addEventListener("change", (event) => {
    ctx.state.layer = Number(event.target.value);
    ctx.refreshRun().then(() => ctx.emit("refresh-gradients"));
  });
  document.getElementById("heatmap-zoom").addEventListener("change", render);
  ctx.on("run", render);
  ctx.on("select", () => {
    walked = false;
    render();
  });
  let resizeTimer;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(render, 150);
  });
}

/** Rows and columns in pixels: never under 4 px a row (64–256 units scroll instead). */
function cellSize(map, T, H, width, zoom) {
  const available = (map.full ? width : Math.max(300, width / 2 - 12)) - 40;
  const cellW = Math.max(2, Math.min(18, Math.floor(available / T))) * zoom;
  const cellH = Math.max(4, Math.min(map.full ? 10 : 6, Math.floor((map.full ? 260 : 150) / H))) * zoom;
  return { cellW, cellH };
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
  const focused = document.activeElement?.closest?.("#heatmaps") ? document.activeElement.dataset.key : null;
  const box = clear(document.getElementById("heatmaps"));
  const width = box.clientWidth || 1000;
  const zoom = Number(document.getElementById("heatmap-zoom").value) || 1;
  const hiddenTitle = run.projection
    ? ["cell output h̃_{t} = o_{t} ⊙ tanh(c_{t})", `one value per unit, before W_{hr} projects it to the ${run.projection} units of h_{t}`]
    : ["hidden state h_{t}", "what the cell passes on, and reads out"];
  maps = [{ kind: "hidden", title: hiddenTitle, data: run.hidden, max: hiddenMax, full: true }];
  if (run.cell_state) {
    maps.push({ kind: "cell", title: ["cell state c_{t}", "the LSTM's memory; not squashed, so it can grow beyond ±1"], data: run.cell_state, max: Math.max(1, maxAbs(run.cell_state)), full: true });
  }
  for (const [gate, data] of Object.entries(run.gates)) {
    maps.push({ kind: "gate", gate, title: TITLES[gate] ?? [`gate ${gate}_{t}`, ""], data, max: 1 });
  }
  const T = run.steps;
  const H = run.hidden_size;
  if (!walked) Object.assign(cursor, { t: state.t, u: state.unit }); // start from the selection
  cursor.t = Math.min(cursor.t, T - 1);
  cursor.u = Math.min(cursor.u, H - 1);
  for (const map of maps) {
    const { cellW, cellH } = cellSize(map, T, H, width, zoom);
    const key = map.gate ? `gate-${map.gate}` : map.kind;
    const name = plainName(map);
    const canvas = el("canvas", {
      class: "heatmap",
      tabindex: "0",
      role: "application",
      "aria-roledescription": "heatmap",
      "aria-label": `${name}: ${H} units (rows) by ${T} time steps (columns). Arrow keys move from cell to cell, Enter selects the step and unit, the value is read out below.`,
      dataset: { kind: map.kind, gate: map.gate ?? "", key },
    });
    let range = map.max === 1 ? "" : ` (colour range ±${fmt(map.max, 1)})`;
    if (map.kind === "gate" && "ifozr".includes(map.gate)) range = " · white 0 closed, blue 1 open";
    const head = el("h3", {}, math(map.title[0]), " ", el("small", {}, math(`— ${map.title[1]}${range}`)));
    const header = el("canvas", { class: "heatmap-head", "aria-hidden": "true" });
    const scroller = el("div", { class: "heatmap-scroll" + (map.full ? " full" : "") }, header, canvas);
    box.append(el("div", { class: "heatmap-box" + (map.full ? " full" : "") }, head, scroller));
    map.canvas = canvas;
    map.draw = (withCursor) =>
      drawHeatmap(canvas, map.data, {
        cellW,
        cellH,
        max: map.max,
        labels: run.labels,
        selected: { t: state.t, unit: state.unit },
        cursor: withCursor ? cursor : null,
        header,
        onHover: (t, u, v, event) => hover(run, map, t, u, v, event),
        onLeave: hidePopup,
        onClick: (t, u) => ctx.select({ t, unit: u }),
      });
    map.draw(false);
    canvas.addEventListener("focus", () => {
      map.draw(true);
      readOut(run, map);
    });
    canvas.addEventListener("blur", () => map.draw(false));
    canvas.addEventListener("keydown", (event) => walk(event, run, map, scroller));
    if (key === focused) canvas.focus({ preventScroll: true });
  }
  tableBehind(document.getElementById("heatmap-table-box"), () => table(run));
  root.dataset.maps = String(maps.length);
  root.dataset.gates = String(Object.keys(run.gates).length);
  root.dataset.ready = "true";
}

/** Arrow keys walk the cells (Home/End: first/last step, PageUp/PageDown: 8 units). */
function walk(event, run, map, scroller) {
  const T = run.steps;
  const H = run.hidden_size;
  const moves = {
    ArrowLeft: [-1, 0],
    ArrowRight: [1, 0],
    ArrowUp: [0, -1],
    ArrowDown: [0, 1],
    PageUp: [0, -8],
    PageDown: [0, 8],
    Home: [-T, 0],
    End: [T, 0],
  };
  if (event.key === "Enter" || event.key === " ") {
    event.preventDefault();
    ctx.select({ t: cursor.t, unit: cursor.u });
    return;
  }
  if (!(event.key in moves)) return;
  event.preventDefault();
  walked = true;
  const [dt, du] = moves[event.key];
  cursor.t = Math.max(0, Math.min(T - 1, cursor.t + dt));
  cursor.u = Math.max(0, Math.min(H - 1, cursor.u + du));
  map.draw(true);
  readOut(run, map);
  keepInView(map, scroller, run);
}

/** Scroll the map's box so that the keyboard's cell stays visible. */
function keepInView(map, scroller, run) {
  const { cellW, cellH } = cellSize(map, run.steps, run.hidden_size, document.getElementById("heatmaps").clientWidth || 1000, Number(document.getElementById("heatmap-zoom").value) || 1);
  const y = 18 + cursor.u * cellH;
  const x = 34 + cursor.t * cellW;
  if (y < scroller.scrollTop + 18 || y + cellH > scroller.scrollTop + scroller.clientHeight) scroller.scrollTop = y - scroller.clientHeight / 2;
  if (x < scroller.scrollLeft || x + cellW > scroller.scrollLeft + scroller.clientWidth) scroller.scrollLeft = x - scroller.clientWidth / 2;
}

function inputOf(run, t) {
  return charInputs(run) ? `'${showChar(run.labels[t])}'` : run.labels[t];
}

/** The live line under the maps: which map, step, input, unit and value. */
function readOut(run, map) {
  const line = document.getElementById("heatmap-readout");
  const { t, u } = cursor;
  const value = map.data[t][u];
  line.textContent = `${plainName(map)}, step ${t + 1} of ${run.steps} (input ${inputOf(run, t)}), unit ${u}: ${fmt(value, 3)}. Enter selects this step and unit.`;
  line.dataset.value = String(value);
  line.dataset.t = String(t);
  line.dataset.unit = String(u);
}

function hover(run, map, t, u, v, event) {
  const title = el("div", {}, el("b", {}, math(map.title[0].replace("_{t}", `_{${t + 1}}`))));
  const text = el("div", { text: `step ${t + 1} (input ${inputOf(run, t)}), unit ${u}: ${fmt(v, 3)}` });
  showPopup(map.canvas, event, title, text);
  movePopup(event);
}

/** The numbers at the selected step: one row per unit, one column per map. */
function table(run) {
  const t = ctx.state.t;
  return {
    caption: `Every map at the selected step t = ${t + 1} (input ${inputOf(run, t)}); select another step with the slider of panel 3, a click or Enter on a map.`,
    head: ["unit", ...maps.map(plainName)],
    rows: Array.from({ length: run.hidden_size }, (_, u) => [u, ...maps.map((map) => fmt(map.data[t][u], 3))]),
  };
}
