// Panel 6: ‖∂L/∂h_t‖ for every t, RNN vs LSTM vs GRU, with the recurrent weights scaled.
import { postJSON } from "../api.js";
import { lineChart } from "../charts.js";
import { CELL_NAMES, cellColor, clear, debounce, el, fmt, sci, showError, superscript } from "../util.js";

let ctx;
let root;
let ticket = 0;

/** The slider runs over log(scale) so that 1 sits in the middle. */
function scaleOf(position) {
  const lo = Math.log(0.2);
  const hi = Math.log(5);
  return Math.exp(lo + Number(position) * (hi - lo));
}

export function init(context) {
  ctx = context;
  root = ctx.panel("gradients");
  const slider = document.getElementById("scale");
  const update = debounce(refresh, 120);
  slider.addEventListener("input", () => {
    document.getElementById("scale-value").textContent = fmt(scaleOf(slider.value), 2);
    update();
  });
  ctx.on("refresh-gradients", refresh);
}

async function refresh() {
  const { state } = ctx;
  if (!state.model) return;
  const mine = ++ticket;
  if (ctx.isPair(state.model.task)) return explainPairs();
  const scale = Math.round(scaleOf(document.getElementById("scale").value) * 1000) / 1000;
  const body = { model: state.model.id, sequence: ctx.sequenceSpec(), scale, layer: state.layer };
  try {
    const answer = await postJSON("/api/gradients", body);
    if (mine !== ticket) return;
    showError(root, "");
    render(answer);
  } catch (error) {
    if (mine === ticket) showError(root, error.message);
  }
}

/** An encoder–decoder is not a single sequence model: say where to look instead. */
function explainPairs() {
  showError(root, "");
  lineChart(document.getElementById("grad-chart"), { series: [], empty: "shown for the text and numeric models" });
  clear(document.getElementById("grad-summary")).append(
    el("div", { class: "muted", text: "This panel compares single-sequence RNN, LSTM and GRU models: pick Text or a numeric task in panel 2. " +
      "For the encoder–decoder, panel 9 shows the other remedy: attention gives every output a direct path to every source position, however far back." }),
  );
  root.dataset.ready = "true";
}

function render(answer) {
  const T = answer.labels.length;
  const series = answer.series.map((s) => ({
    label: CELL_NAMES[s.cell],
    color: cellColor(s.cell),
    points: s.norms.map((v, t) => [t + 1, v === null ? null : Math.max(v, 1e-30)]),
    dataset: { cell: s.cell, norms: JSON.stringify(s.norms) },
  }));
  lineChart(document.getElementById("grad-chart"), {
    series,
    logY: true,
    floor: 1e-30,
    xLabel: `time step t (the loss is at t = ${T})`,
    yLabel: "‖∂L/∂hₜ‖",
  });
  const summary = clear(document.getElementById("grad-summary"));
  for (const s of answer.series) {
    const first = s.norms[0];
    const last = s.norms[T - 1];
    const ratio = first !== null && last ? first / last : null;
    let verdict = "the signal survives the whole way back";
    if (ratio === null) verdict = "the gradient overflowed";
    else if (ratio < 1e-3) verdict = "it vanishes: the first steps get almost no learning signal";
    else if (ratio > 1e3) verdict = "it explodes: the first steps get huge, unstable updates";
    const change = ratio === null ? "—" : ratio === 0 ? "to 0" : `×10${superscript(Math.round(Math.log10(ratio)))}`;
    const trained = s.trained_steps ? `trained ${s.trained_steps} steps` : "untrained";
    summary.append(
      el(
        "div",
        { dataset: { cell: s.cell, ratio: String(ratio) } },
        el("span", { class: "swatch", style: `background:${cellColor(s.cell)}` }),
        el("b", { text: CELL_NAMES[s.cell] }),
        ` (${trained}): from t = ${T} back to t = 1 the norm goes ${sci(last)} → ${sci(first)}, ${change}; ${verdict}.`,
      ),
    );
  }
  summary.append(
    el("div", { class: "muted", text: "Drag the scale below 1 and every curve falls faster; above 1 the plain RNN explodes first. The LSTM's additive cell-state path and the GRU's (1 − z) shortcut let the signal travel further." }),
  );
  root.dataset.scale = String(answer.scale);
  root.dataset.ready = "true";
}
