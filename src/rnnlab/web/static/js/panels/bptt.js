// Panel: backpropagation through time, written out for the plain RNN and walked step by
// step from the last character back to the first, then the update W := W − η ∂L/∂W.
// Position 0 is the forward pass done; 1…T the backward pass at t = T…1; T + 1 the update.
import { postJSON } from "../api.js";
import { lineChart } from "../charts.js";
import { player, speedInAddress } from "../player.js";
import { tableBehind } from "../tables.js";
import { clear, debounce, el, fmt, sci, showChar, showError } from "../util.js";
import { math } from "./equations.js";

let ctx;
let root;
let ticket = 0;
let answer = null;
let position = 0;
let restoring = null; // a position from the address, applied once the numbers are there

const $ = (id) => document.getElementById(id);

speedInAddress("bspeed", "bptt-speed");

/** The step t (1-based) the backward pass has reached at `k`, or null (forward / update). */
function stepAt(k, T) {
  return k >= 1 && k <= T ? T - k + 1 : null;
}

export function currentPosition() {
  return answer && position > 0 ? position : null;
}

/** Go to position k (clamped) and redraw. */
export function goTo(k) {
  if (!answer) return;
  position = Math.max(0, Math.min(k, answer.steps + 1));
  draw();
  ctx.emit("bptt-step", position);
}

/** The last position (the update); the player stops there. */
export function last() {
  return answer ? answer.steps + 1 : 0;
}

export function restorePosition(k) {
  restoring = k;
}

export function init(context) {
  ctx = context;
  root = ctx.panel("bptt");
  const slider = $("bptt-slider");
  slider.addEventListener("input", () => goTo(Number(slider.value)));
  $("bptt-prev").addEventListener("click", () => goTo(position - 1));
  $("bptt-next").addEventListener("click", () => goTo(position + 1));
  const update = debounce(refresh, 100);
  for (const id of ["bptt-lr", "bptt-clip", "bptt-compare"]) $(id).addEventListener("change", update);
  // play walks the backward pass from the forward pass to the update, one position a beat
  player($("bptt-player"), {
    what: "the backward pass",
    interval: 700,
    stepName: "one step further back",
    resetName: "back to the forward pass",
    start: async () => {
      if (!answer) return false;
      if (position >= last()) goTo(0); // from the start again
      return true;
    },
    advance: async () => {
      if (!answer || position >= last()) return false;
      goTo(position + 1);
      return position < last();
    },
    reset: async () => goTo(0),
  });
  ctx.on("run", update);
}

async function refresh() {
  const { state } = ctx;
  if (!ctx.inStep() || root.hidden) return;
  if (state.model.task !== "text") return explainOther();
  const mine = ++ticket;
  const clip = $("bptt-clip").value;
  const body = {
    model: state.model.id,
    sequence: ctx.sequenceSpec(),
    lr: Number($("bptt-lr").value),
    clip: clip ? Number(clip) : null,
    untrained: $("bptt-compare").value === "untrained",
  };
  try {
    const fresh = await postJSON("/api/bptt", body);
    if (mine !== ticket) return;
    showError(root, "");
    const same = answer && answer.steps === fresh.steps;
    answer = fresh;
    if (restoring !== null) position = restoring;
    else if (!same) position = 0;
    restoring = null;
    position = Math.min(position, answer.steps + 1);
    draw();
    root.dataset.ready = "true";
  } catch (error) {
    if (mine === ticket) showError(root, error.message);
  }
}

function explainOther() {
  answer = null;
  clear($("bptt-step")).append("This panel writes out a character model's training: choose Text in panel 2.");
  root.dataset.ready = "true";
}

function draw() {
  const a = answer;
  const T = a.steps;
  const t = stepAt(position, T);
  const visited = (s) => position >= T - s + 1; // steps T…t have been walked back through
  const slider = $("bptt-slider");
  slider.max = String(T + 1);
  slider.value = String(position);
  const label = position === 0 ? "forward pass" : t ? `backward at t = ${t}` : "the update";
  slider.setAttribute("aria-valuetext", `${label} (${position} of ${T + 1})`);
  $("bptt-label").textContent = `${label} · ${position}/${T + 1}`;
  root.dataset.position = String(position);

  const strip = clear($("bptt-strip"));
  const most = Math.max(...a.losses);
  for (let s = 1; s <= T; s++) {
    const loss = a.losses[s - 1];
    strip.append(
      el(
        "span",
        { class: "bptt-cell" + (s === t ? " current" : "") + (visited(s) ? " visited" : ""), dataset: { step: String(s) } },
        el("span", { class: "bptt-loss", style: `height:${Math.round((24 * loss) / most)}px`, title: `L${s} = ${fmt(loss)}` }),
        el("span", { class: "bptt-char mono", text: showChar(a.labels[s - 1]) }),
      ),
    );
  }
  strip.setAttribute("aria-label", `the ${T} characters read; the bars above them are the losses L_t, the largest ${fmt(most)}`);

  const seen = (values) => values.map((v, i) => [i + 1, v]).filter(([s]) => visited(s));
  lineChart($("bptt-chart"), {
    series: [
      { label: "‖∂L/∂hₜ‖", color: "#2f6fde", points: seen(a.d_hidden), dots: true, dataset: { series: "d_hidden" } },
      { label: "‖Σₛ≥ₜ δₛ hₛ₋₁ᵀ‖ (∂L/∂W so far)", color: "#b8461b", points: seen(a.collected), dash: "5 3", dataset: { series: "collected" } },
    ],
    logY: true,
    xRange: [1, Math.max(2, T)],
    xLabel: `time step t (1 … ${T}); the backward pass runs right to left`,
    yLabel: "norm (log scale)",
    empty: "press ▶ to start the backward pass at the last step",
  });
  $("bptt-chart").setAttribute("aria-label", `gradient norms of the ${Math.max(0, Math.min(position, T))} steps walked back so far; the table below holds all of them`);

  const say = clear($("bptt-step"));
  const u = a.update;
  const rnn = `the plain RNN (${a.trained_steps ? `trained ${a.trained_steps} steps` : "untrained"}, ${a.hidden_size} units)`;
  if (position === 0) {
    say.append(`Forward pass: ${rnn} read the ${T} characters and predicted each next one; the bars are the losses L_t = −log p(next character), mean L = ${fmt(a.loss)}. Step forward (▶) to walk the gradient back from t = ${T}.`);
  } else if (t) {
    const from = t === T ? `only from L_${T} (there is no later step)` : `from L_${t} and from h_${t + 1} through W`;
    say.append(
      `Backward, t = ${t} ('${showChar(a.labels[t - 1])}'): the gradient reaching h_${t} is ‖∂L/∂h_${t}‖ = ${sci(a.d_hidden[t - 1])}, ${from}. ` +
        `Through ${slope(a, t)}, ‖δ_${t}‖ = ${sci(a.delta[t - 1])}; ` +
        `its term of ∂L/∂W is δ_${t} h_${t - 1}ᵀ, of norm ${sci(a.terms[t - 1])}` +
        (t === 1 ? " (0: h_0 = 0)" : "") +
        `. The sum collected from t = ${T} back to here has norm ${sci(a.collected[t - 1])}.`,
    );
  } else {
    const clipped = u.clip !== null && u.scale < 1;
    say.append(
      `Update: every weight moves against its gradient, W := W − η ∂L/∂W with η = ${u.lr}` +
        (u.clip === null ? "" : clipped ? `, after clipping: the whole gradient's norm ${sci(u.norm)} is above ${u.clip}, so it is scaled by ${sci(u.scale)}` : `; clipping at ${u.clip} leaves it alone (its norm is ${sci(u.norm)})`) +
        `. On this text the loss goes ${fmt(u.loss_before)} → ${fmt(u.loss_after)}` +
        (u.loss_after < u.loss_before ? ": one step of learning." : ": η is too large here, the step overshoots (try a smaller one)."),
    );
  }
  drawUpdate(u, position === T + 1);
  tableBehind($("bptt-table-box"), () => ({
    caption: "per step: the loss L_t, the gradient reaching h_t, δ_t, the step's term of ∂L/∂W and the sum collected from the end back to t",
    head: ["step t", "character", "L_t", "‖∂L/∂h_t‖", "‖δ_t‖", "‖δ_t h_{t−1}ᵀ‖", "‖Σ_{s≥t}‖"],
    rows: a.losses.map((loss, i) => [i + 1, `'${showChar(a.labels[i])}' → '${showChar(a.labels[i + 1])}'`, fmt(loss), sci(a.d_hidden[i]), sci(a.delta[i]), sci(a.terms[i]), sci(a.collected[i])]),
  }));
}

/** A small matrix as a table; `show` writes one entry. */
/** The activation's slope that turns ∂L/∂h_t into δ_t, as the cell (tanh or ReLU) has it. */
function slope(a, t) {
  if (a.cell === "rnn_relu") return `ReLU it becomes δ_${t} = ∂L/∂h_${t} ⊙ 1[h_${t} > 0] (the units that are on pass it, the others stop it)`;
  return `tanh it becomes δ_${t} = ∂L/∂h_${t} ⊙ (1 − h_${t}²)`;
}

function matrix(caption, rows, show) {
  const table = el("table", { class: "weights small" });
  table.append(el("caption", {}, math(caption)));
  const body = el("tbody");
  for (const row of rows) body.append(el("tr", {}, ...row.map((v) => el("td", { text: show(v) }))));
  table.append(body);
  return table;
}

function drawUpdate(u, active) {
  const box = clear($("bptt-update"));
  box.classList.toggle("active", active);
  const k = u.size;
  box.append(
    el("p", { class: "muted" }, math(`The top-left ${k}×${k} corner of W (W_{hh}, the recurrent weights), before and after W := W − η ∂L/∂W:`)),
    el(
      "div",
      { class: "matrices" },
      matrix("W before", u.W_before, (v) => fmt(v, 4)),
      el("span", { class: "op", text: "−" }),
      el("span", { class: "op", text: `${u.lr}${u.scale < 1 ? ` × ${sci(u.scale)}` : ""} ×` }),
      matrix("∂L/∂W", u.dW, sci),
      el("span", { class: "op", text: "=" }),
      matrix("W after", u.W_after, (v) => fmt(v, 4)),
    ),
  );
}
