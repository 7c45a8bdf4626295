// Panel 6: ‖∂L/∂h_t‖ for every t, RNN vs LSTM vs GRU, with the recurrent weights scaled.
// Every sentence under the chart is computed from the norms it shows.
import { postJSON } from "../api.js";
import { lineChart } from "../charts.js";
import { tableBehind } from "../tables.js";
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
  const label = () => {
    const text = fmt(scaleOf(slider.value), 2);
    document.getElementById("scale-value").textContent = text;
    slider.setAttribute("aria-valuetext", `recurrent weights times ${text}`);
  };
  slider.addEventListener("input", () => {
    label();
    update();
  });
  label();
  document.getElementById("grad-compare").addEventListener("change", refresh);
  ctx.on("refresh-gradients", refresh);
}

async function refresh() {
  const { state } = ctx;
  if (!ctx.inStep()) return;
  const mine = ++ticket;
  if (ctx.isPair(state.model.task)) return explainPairs();
  const scale = Math.round(scaleOf(document.getElementById("scale").value) * 1000) / 1000;
  const untrained = document.getElementById("grad-compare").value === "untrained";
  const body = { model: state.model.id, sequence: ctx.sequenceSpec(), scale, layer: state.layer, untrained };
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

/** What happened to one model's signal between the loss (t = T) and t = 1. */
function measure(s, T) {
  const first = s.norms[0];
  const last = s.norms[T - 1];
  const overflow = s.norms.some((v) => v === null);
  const zeros = s.norms.map((v, t) => (v === 0 ? t + 1 : 0)).filter(Boolean);
  const ratio = overflow || !last ? null : first / last;
  let verdict = "the signal survives the whole way back";
  if (overflow) verdict = "it overflows: the norm is too large for floating point";
  else if (ratio === 0) verdict = `it vanishes completely: from t = ${Math.max(...zeros)} back the gradient underflows to exactly 0`;
  else if (ratio < 1e-3) verdict = "it vanishes: the first steps get almost no learning signal";
  else if (ratio > 1e3) verdict = "it explodes: the first steps get huge, unstable updates";
  return { cell: s.cell, name: CELL_NAMES[s.cell], first, last, ratio, zeros, verdict, trained: s.trained_steps };
}

function decades(ratio) {
  if (ratio === null) return "—";
  if (ratio === 0) return "to exactly 0";
  return `×10${superscript(Math.round(Math.log10(ratio)))}`;
}

/** The comparison the chart supports, in words: who keeps the most, and whether it is fair. */
function comparison(measured, T) {
  const lines = [];
  const finite = measured.filter((m) => m.ratio !== null);
  const kept = (m) => (m.ratio === 0 ? -Infinity : Math.log10(m.ratio));
  const sorted = [...finite].sort((a, b) => kept(b) - kept(a));
  const vanish = finite.filter((m) => m.ratio < 1e-3);
  const explode = finite.filter((m) => m.ratio > 1e3);
  if (sorted.length >= 2) {
    const [best, worst] = [sorted[0], sorted[sorted.length - 1]];
    const gap = kept(best) - kept(worst);
    if (gap < 1) lines.push(`Over these ${T} steps the three end within a factor of 10 of each other: no model carries the signal clearly further here.`);
    else lines.push(`Over these ${T} steps the ${best.name} keeps the most of the signal (${decades(best.ratio)}) and the ${worst.name} the least (${decades(worst.ratio)}).`);
  }
  if (vanish.length === measured.length) lines.push("All three vanish at this scale.");
  if (explode.length) lines.push(`${explode.map((m) => m.name).join(" and ")} explode${explode.length === 1 ? "s" : ""} at this scale.`);
  const steps = new Set(measured.map((m) => m.trained));
  if (steps.size > 1) {
    const said = measured.map((m) => `${m.name} ${m.trained ? `trained ${m.trained} steps` : "untrained"}`).join(", ");
    lines.push(`Not an equal comparison: ${said}. Training changes how far the signal reaches; choose "all untrained" above to compare them on equal terms.`);
  } else {
    lines.push(measured[0].trained ? `All three trained ${measured[0].trained} steps: an equal comparison.` : "All three are untrained, from the same seed and size: an equal comparison.");
  }
  return lines;
}

function render(answer) {
  const T = answer.labels.length;
  const series = answer.series.map((s) => ({
    label: CELL_NAMES[s.cell],
    color: cellColor(s.cell),
    points: s.norms.map((v, t) => [t + 1, v]),
    dataset: { cell: s.cell, norms: JSON.stringify(s.norms) },
  }));
  const chart = document.getElementById("grad-chart");
  lineChart(chart, {
    series,
    logY: true,
    xLabel: `time step t (the loss is at t = ${T})`,
    yLabel: "‖∂L/∂hₜ‖ (log scale)",
  });
  const measured = answer.series.map((s) => measure(s, T));
  chart.setAttribute("aria-label", `gradient norms at each of ${T} steps for ${measured.map((m) => `${m.name} (${decades(m.ratio)} from t = ${T} to t = 1)`).join(", ")}; the table below holds the numbers`);
  const summary = clear(document.getElementById("grad-summary"));
  for (const m of measured) {
    summary.append(
      el(
        "div",
        { dataset: { cell: m.cell, ratio: String(m.ratio) } },
        el("span", { class: "swatch", style: `background:${cellColor(m.cell)}` }),
        el("b", { text: m.name }),
        ` (${m.trained ? `trained ${m.trained} steps` : "untrained"}): from t = ${T} back to t = 1 the norm goes ${sci(m.last)} → ${sci(m.first)}, ${decades(m.ratio)}; ${m.verdict}.`,
      ),
    );
  }
  const verdict = el("div", { id: "grad-verdict", class: "verdict" }, comparison(measured, T).join(" "));
  summary.append(verdict);
  summary.append(el("div", { class: "muted", text: "Drag the scale: below 1 every curve falls faster, above 1 a curve can grow on its way back instead (it explodes)." }));
  tableBehind(document.getElementById("grad-table-box"), () => ({
    caption: `‖∂L/∂h_t‖ at each step (the loss is at t = ${T}); 0 means the value underflowed`,
    head: ["step t", ...measured.map((m) => m.name)],
    rows: Array.from({ length: T }, (_, t) => [t + 1, ...answer.series.map((s) => (s.norms[t] === null ? "overflow" : sci(s.norms[t])))]),
  }));
  root.dataset.scale = String(answer.scale);
  root.dataset.ready = "true";
}
