// Connectivity (after Madsen 2019, "Visualizing memorization in RNNs", Distill): for one
// output step t, how strongly each earlier input x_s drives it, ‖∂y_t/∂x_s‖, in an RNN,
// an LSTM and a GRU side by side. Each row is the text again, every input shaded by its
// connectivity over that row's own maximum; the sentences are computed from the numbers.
import { postJSON } from "../api.js";
import { keepInAddress } from "../address.js";
import { diverging, inkOn } from "../charts.js";
import { player, speedInAddress } from "../player.js";
import { tableBehind } from "../tables.js";
import { CELL_NAMES, cellColor, clear, el, fmt, pct, sci, showChar, showError } from "../util.js";

let ctx;
let root;
let ticket = 0;
let answer = null; // the last /api/connectivity answer
let chosen = null; // the output step chosen (0-based); null: the last one
let restored = null; // a step from the page's address, kept until the first answer
let labelsKey = null; // the text of the last answer: a new text starts from its last step
let playback = null; // the player (js/player.js) that walks the output step forward
speedInAddress("cspeed", "conn-speed");

// the address keeps the chosen output step (1-based; none: the last) and the comparison
keepInAddress(
  { key: "ct", get: () => (chosen === null ? "" : String(chosen + 1)), set: restoreStep },
  {
    key: "ccompare",
    get: () => document.getElementById("conn-compare")?.value ?? "",
    set: (text) => ["trained", "untrained", "directions"].includes(text) && (document.getElementById("conn-compare").value = text),
  },
);

/** Take the output step of the page's address, "1", "2", … (before the first answer). */
function restoreStep(text, limits) {
  const t = Number(text);
  if (!/^\d+$/.test(text) || t < 1 || t > limits.max_text_steps) return;
  restored = t - 1;
  chosen = t - 1;
}

export function init(context) {
  ctx = context;
  root = ctx.panel("connectivity");
  const slider = document.getElementById("conn-t");
  slider.addEventListener("input", () => choose(Number(slider.value)));
  document.getElementById("conn-prev").addEventListener("click", () => choose(stepNow() - 1));
  document.getElementById("conn-next").addEventListener("click", () => choose(stepNow() + 1));
  // play walks the output step forward, one answer drawn before the next is asked for
  const last = () => (answer ? answer.steps - 1 : 0);
  playback = player(document.getElementById("conn-player"), {
    what: "the output steps",
    interval: 700,
    stepName: "the next output step",
    resetName: "back to output step 1",
    start: async () => {
      if (!answer) return false;
      if (stepNow() >= last()) return choose(0); // from the start again
      return true;
    },
    advance: async () => {
      if (!answer || stepNow() >= last()) return false;
      return (await choose(stepNow() + 1)) && stepNow() < last();
    },
    reset: async () => choose(0),
  });
  document.getElementById("conn-compare").addEventListener("change", refresh);
  ctx.on("refresh-gradients", refresh);
}

function stepNow() {
  return answer ? answer.t : 0;
}

/** Choose output step t (clamped to the text), then ask for its connectivity; resolves
 * to whether it was drawn. */
async function choose(t) {
  if (!answer) return false;
  const last = answer.steps - 1;
  chosen = Math.max(0, Math.min(last, t));
  if (chosen === last) chosen = null; // the default: stays the last step of any text
  return refresh();
}

/** Ask for the connectivity of the chosen step and draw it; resolves to false when
 * there is nothing to draw (then play pauses), true otherwise. */
async function refresh() {
  const { state } = ctx;
  if (!ctx.inStep()) return false;
  const mine = ++ticket;
  if (ctx.isPair(state.model.task)) return explainPairs();
  const run = state.run;
  const steps = run ? (run.kind === "text" ? run.steps - 1 : run.steps) : null;
  const key = run ? JSON.stringify(run.labels) : null;
  if (key && labelsKey !== null && key !== labelsKey && restored === null) chosen = null; // another text
  if (steps !== null && chosen !== null && chosen >= steps) chosen = null;
  if (steps !== null && steps < 1) return explain("The text needs at least two characters: an output and the character it predicts.");
  const t = chosen ?? (steps ?? 1) - 1;
  const choice = document.getElementById("conn-compare").value;
  const compare = choice === "directions" ? "directions" : "cells";
  const body = { model: state.model.id, sequence: ctx.sequenceSpec(), t, untrained: choice === "untrained", compare };
  root.dataset.ready = "false";
  try {
    const got = await postJSON("/api/connectivity", body);
    if (mine !== ticket) return true; // a newer request draws instead
    answer = got;
    labelsKey = JSON.stringify(got.labels);
    restored = null;
    showError(root, "");
    render(got);
    ctx.emit("connectivity-step", got.t);
    return true;
  } catch (error) {
    if (mine !== ticket) return true; // a newer request draws instead
    showError(root, error.message);
    playback.pause();
    return false;
  }
}

function explain(text) {
  playback.pause();
  clear(document.getElementById("conn-rows")).append(el("p", { class: "muted", text }));
  clear(document.getElementById("conn-summary"));
  root.dataset.ready = "true";
  return false;
}

/** An encoder–decoder is not one sequence model: say where to look instead. */
function explainPairs() {
  showError(root, "");
  return explain("Connectivity compares single-sequence RNN, LSTM and GRU models: pick Text or a numeric task in panel 2. " +
    "For the encoder–decoder, panel 9 shows where each output looks: its attention over the source.");
}

/** How an input is written in the rows and the table. */
function inputText(a, s) {
  return a.kind === "text" ? showChar(a.labels[s]) : a.labels[s];
}

/** What y_t is, in words, for this answer. */
function outputWords(a) {
  const t = a.t;
  if (a.kind === "text") return `y = log p('${showChar(a.target)}'), the log-probability the model gives to the character that comes next, '${showChar(a.target)}'`;
  return `y = the network's output at step ${t + 1} (the target there is ${fmt(a.target, 3)})`;
}

function render(a) {
  const T = a.labels.length;
  const t = a.t;
  const slider = document.getElementById("conn-t");
  slider.max = String(a.steps - 1);
  slider.value = String(t);
  const read = inputText(a, t);
  const label = a.kind === "text"
    ? `output step t = ${t + 1} of ${a.steps}: after '${read}', predicting '${showChar(a.target)}'`
    : `output step t = ${t + 1} of ${a.steps}: input ${read}`;
  slider.setAttribute("aria-valuetext", label);
  document.getElementById("conn-label").textContent = label;
  document.getElementById("conn-prev").disabled = t === 0;
  document.getElementById("conn-next").disabled = t === a.steps - 1;
  const legend = clear(document.getElementById("conn-legend"));
  legend.append(el("span", { text: "0" }), el("span", { class: "bar seq" }), el("span", { text: "the row's largest ‖∂y/∂x‖" }),
    el("span", { class: "conn-key" }, el("span", { class: "conn-key-box" }), "the output step t (its input is the last one read)"));
  const rows = clear(document.getElementById("conn-rows"));
  for (const s of a.series) rows.append(row(a, s, T));
  summarise(a);
  tableBehind(document.getElementById("conn-table-box"), () => ({
    caption: `‖∂y/∂x_s‖ for the output at step t = ${t + 1}, every input s ≤ t (${a.kind === "text" ? "y the log-probability of '" + showChar(a.target) + "'" : "y the output"}); 0 means the value underflowed`,
    head: ["input s", "input", "steps back t − s", ...a.series.map(modelName)],
    rows: Array.from({ length: Math.max(...a.series.map((s) => s.norms.length)) }, (_, k) => [k + 1, inputText(a, k), t - k, ...a.series.map((s) => (k < s.norms.length ? sci(s.norms[k]) : "—"))]),
  }));
  root.dataset.t = String(t);
  root.dataset.steps = String(a.steps);
  root.dataset.ready = "true";
}

/** A row's model for people: its cell, and which way it reads when that is compared. */
function modelName(s) {
  if (s.directions === 2) return `${CELL_NAMES[s.cell]}, both ways`;
  return s.name === "one way" ? `${CELL_NAMES[s.cell]}, one way` : CELL_NAMES[s.cell];
}

/** One model's row: the text, each input it reads shaded by its share of the row's
 * maximum (up to t; a model that reads both ways reads the inputs after t as well). */
function row(a, s, T) {
  const t = a.t;
  const norms = s.norms.map((v) => v ?? 0);
  const max = Math.max(...norms);
  const trained = s.trained_steps ? `trained ${s.trained_steps} steps` : "untrained";
  const value = a.kind === "text" ? `p('${showChar(a.target)}') = ${pct(Math.exp(s.y))}` : `output ${fmt(s.y, 3)}`;
  const reach = s.reach === null ? "no input reaches it (every gradient is 0)" : `reaches ${s.reach} step${s.reach === 1 ? "" : "s"} back`;
  const head = el("div", { class: "conn-head" },
    el("span", { class: "swatch", style: `background:${cellColor(s.cell)}` }),
    el("b", { text: modelName(s) }),
    el("span", { class: "muted", text: ` ${trained} · ${value} · ${reach}` }));
  const strongest = norms.indexOf(max);
  const text = el("div", {
    class: "conn-text mono",
    role: "img",
    "aria-label": `${modelName(s)}: the inputs 1 to ${s.norms.length} shaded by how strongly each drives the output at step ${t + 1}; the strongest is input ${strongest + 1} ('${inputText(a, strongest)}'); it ${reach}. The table below holds the numbers.`,
  });
  for (let k = 0; k < T; k++) {
    const shown = a.kind === "text" ? (a.labels[k] === "\n" ? "↵" : a.labels[k] === " " ? "␣" : a.labels[k]) : a.labels[k];
    const span = el("span", { class: "c" + (a.kind === "text" ? "" : " val"), dataset: { s: k } }, shown);
    if (k < s.norms.length) {
      const share = max > 0 ? norms[k] / max : 0;
      const fill = diverging(share, 1);
      span.style.background = fill;
      span.style.color = inkOn(fill);
      span.dataset.value = String(s.norms[k]);
      span.dataset.share = share.toFixed(4);
      span.title = `input ${k + 1} '${inputText(a, k)}': ‖∂y/∂x‖ = ${sci(s.norms[k])} (${pct(share)} of the row's largest)`;
      if (k === t) span.classList.add("out");
      if (k > t) span.classList.add("ahead");
    } else {
      span.classList.add("future");
      span.title = `input ${k + 1} comes after the output step: it cannot drive it`;
    }
    span.addEventListener("click", () => choose(k));
    text.append(span);
    if (a.kind === "text" && a.labels[k] === "\n") text.append(el("br"));
  }
  return el("div", { class: "conn-row", dataset: { cell: s.cell, reach: String(s.reach), trained: String(s.trained_steps) } }, head, text);
}

/** The sentences under the rows: which model reaches furthest back, and whether it is fair. */
function summarise(a) {
  const box = clear(document.getElementById("conn-summary"));
  const t = a.t;
  const named = a.series.map((s) => ({ name: modelName(s), reach: s.reach, trained: s.trained_steps }));
  const lines = [`At output step ${t + 1}, ${outputWords(a)}.`];
  const reaching = named.filter((m) => m.reach !== null);
  const list = named.map((m) => `${m.name} ${m.reach === null ? "—" : m.reach}`).join(", ");
  lines.push(`Steps back to the furthest input that still has at least ${pct(a.reach_fraction)} of its row's largest value: ${list}.`);
  if (reaching.length >= 2) {
    const most = Math.max(...reaching.map((m) => m.reach));
    const least = Math.min(...reaching.map((m) => m.reach));
    const best = reaching.filter((m) => m.reach === most).map((m) => m.name);
    if (most === least) lines.push(`All ${reaching.length} reach equally far back here.`);
    else lines.push(`The ${best.join(" and the ")} reach${best.length === 1 ? "es" : ""} furthest back (${most} step${most === 1 ? "" : "s"}).`);
    if (most === t) lines.push("That is the first input of the text: a longer text could show more.");
  }
  const steps = new Set(named.map((m) => m.trained));
  if (steps.size > 1) {
    const said = named.map((m) => `${m.name} ${m.trained ? `trained ${m.trained} steps` : "untrained"}`).join(", ");
    lines.push(`Not an equal comparison: ${said}. Choose "all untrained" to compare them on equal terms, or train each cell in panel 1.`);
  } else {
    const all = named.length === 2 ? "Both" : `All ${named.length}`;
    lines.push(named[0].trained ? `${all} trained ${named[0].trained} steps: an equal comparison.` : `${all} are untrained, from the same seed and size: an equal comparison.`);
  }
  const both = a.series.find((s) => s.directions === 2);
  if (both && t + 1 < both.norms.length) {
    const norms = both.norms.map((v) => v ?? 0);
    const max = Math.max(...norms);
    const after = norms.slice(t + 1).reduce((x, y) => x + y, 0);
    const share = after / Math.max(norms.reduce((x, y) => x + y, 0), 1e-300);
    const next = a.kind === "text" ? `'${showChar(a.target)}', the very character it is asked to predict` : `input ${t + 2}`;
    lines.push(`Reading both ways, the output at step ${t + 1} also depends on the ${both.norms.length - t - 1 === 1 ? "input" : `${both.norms.length - t - 1} inputs`} after it (${pct(share)} of its row's total), the first of them ${next}, with ${pct(max > 0 ? norms[t + 1] / max : 0)} of the row's largest value.` +
      (a.kind === "text" ? " A language model must not read ahead: trained, this twin would learn to copy the answer. Reading both ways suits tasks that see the whole sequence first (tagging, classification, an encoder)." : ""));
  }
  box.append(el("span", { id: "conn-verdict", text: lines.join(" ") }));
}
