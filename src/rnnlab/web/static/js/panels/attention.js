// Panel 9: an encoder–decoder writing its answer one character at a time, with the map of
// where its attention looked at every step (rows: output steps, columns: source characters).
import { postJSON } from "../api.js";
import { diverging } from "../charts.js";
import { clear, el, fmt, pct, showChar, showError, svg } from "../util.js";

let ctx;
let root;
let view = null; // the last /api/attention answer
let step = 0; // the selected decoding step, from 0
let shownKey = null; // the model and source of `view`: a new source starts at step 1
let ticket = 0;
let pending = null; // a step to open at (from the page's address), used by the next new source

/** Open the next decoding shown at step `u` (from 0). */
export function restoreStep(u) {
  pending = u;
}

/** The selected decoding step (from 0), or null when no decoding is shown. */
export function currentStep() {
  return view ? step : null;
}

const $ = (id) => document.getElementById(id);
const LEFT = 84; // room for the row labels
const TOP = 44; // room for the source characters and their positions

export function init(context) {
  ctx = context;
  root = ctx.panel("attention");
  $("attention-go").addEventListener("click", () => document.querySelector("#kind-tabs button[data-kind=seq2seq]").click());
  $("dec-first").addEventListener("click", () => go(0));
  $("dec-prev").addEventListener("click", () => go(step - 1));
  $("dec-next").addEventListener("click", () => go(step + 1));
  $("dec-last").addEventListener("click", () => go(Infinity));
  $("dec-slider").addEventListener("input", (event) => go(Number(event.target.value) - 1));
  root.addEventListener("keydown", (event) => {
    if (!view || event.target.matches("input, select, textarea")) return;
    const moves = { ArrowLeft: step - 1, ArrowRight: step + 1, Home: 0, End: Infinity };
    if (event.key in moves) {
      event.preventDefault();
      go(moves[event.key]);
    }
  });
  ctx.on("model", showWhetherPairs);
  ctx.on("run", refresh);
  let resizeTimer;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(render, 150);
  });
}

function label(symbol) {
  return symbol === null ? "END" : showChar(symbol);
}

/** Without a seq2seq sequence chosen, the panel says how to get one. */
function showWhetherPairs() {
  const pair = ctx.isPair(ctx.state.seq.kind);
  $("attention-off").hidden = pair;
  $("attention-body").hidden = !pair;
  if (!pair) {
    view = null;
    shownKey = null;
    showError(root, "");
    root.dataset.state = "off";
  }
}

async function refresh() {
  const { state } = ctx;
  showWhetherPairs();
  if (!ctx.inStep() || !ctx.isPair(state.model.task)) return;
  const mine = ++ticket;
  const body = { model: state.model.id, sequence: ctx.sequenceSpec() };
  try {
    const answer = await postJSON("/api/attention", body);
    if (mine !== ticket) return;
    const key = JSON.stringify(body);
    if (key !== shownKey) step = pending ?? 0; // a new source: follow it from the first step
    pending = null;
    shownKey = key;
    view = answer;
    showError(root, "");
    render();
  } catch (error) {
    if (mine === ticket) showError(root, error.message);
  }
}

function go(u) {
  if (!view) return;
  step = Math.max(0, Math.min(u, view.steps.length - 1));
  render();
}

function render() {
  if (!view || $("attention-body").hidden) return;
  const U = view.steps.length;
  step = Math.max(0, Math.min(step, U - 1));
  const slider = $("dec-slider");
  slider.max = String(U);
  slider.value = String(step + 1);
  slider.setAttribute("aria-valuetext", `output step ${step + 1} of ${U}`);
  $("dec-label").textContent = `output step u = ${step + 1} / ${U}`;
  $("dec-first").disabled = $("dec-prev").disabled = step === 0;
  $("dec-next").disabled = $("dec-last").disabled = step === U - 1;
  const focus = focusOf(step);
  renderLines(focus);
  renderStepText(focus);
  const none = view.weights === null;
  $("attention-none").hidden = !none;
  $("attention-map-box").hidden = none;
  if (none) {
    $("attention-none").textContent =
      "This decoder has no attention: it reads only the encoder's last state (its hidden state after the last source character), which it starts from, and never looks back at the source. " +
      "Every output step has to get by with that one summary of the whole source, which is why long sources are hard without attention. " +
      "Choose an attention kind in panel 1 to see where each output step looks.";
  } else {
    renderLegend();
    drawMap(focus);
    renderTable();
  }
  renderResult();
  ctx.emit("decoding-step", step); // the page's address keeps it
  Object.assign(root.dataset, {
    state: "ready",
    step: String(step),
    steps: String(U),
    attention: view.attention,
    exact: String(view.exact),
  });
}

/** The source position the selected step weighs most, or -1 without attention. */
function focusOf(u) {
  if (!view.weights) return -1;
  const row = view.weights[u];
  return row.indexOf(Math.max(...row));
}

function chip(text, cls = "", title = "") {
  return el("span", { class: `chip ${cls}`.trim(), text, title: title || null });
}

function renderLines(focus) {
  const lines = clear($("decode-lines"));
  const source = view.source.map((c, s) => chip(showChar(c), s === focus ? "focus" : "", `source position ${s + 1}`));
  const written = view.steps.slice(0, step + 1).map((s, u) => chip(label(s.symbol), (u === step ? "current" : "") + (s.end ? " end" : ""), `output step ${u + 1}`));
  const more = view.steps.length - step - 1;
  if (more > 0) written.push(el("span", { class: "muted", text: ` … ${more} more step${more > 1 ? "s" : ""}` }));
  const expected = view.target === null ? [el("span", { class: "muted", text: "no right answer is known for this source" })] : [...view.target].map((c, k) => chip(showChar(c), k === step ? "expected here" : "expected", `expected character ${k + 1}`));
  lines.append(
    el("dt", { text: "Source (encoder)" }),
    el("dd", { class: "chips-line" }, ...source),
    el("dt", { text: "Written so far (decoder)" }),
    el("dd", { class: "chips-line", dataset: { written: view.steps.slice(0, step + 1).map((s) => (s.end ? "" : s.symbol)).join("") } }, ...written),
    el("dt", { text: "Expected" }),
    el("dd", { class: "chips-line" }, ...expected),
  );
}

function renderStepText(focus) {
  const s = view.steps[step];
  const wrote = s.end ? "wrote END, so decoding stops here" : `wrote '${label(s.symbol)}'`;
  const others = s.top.slice(1).map(([symbol, p]) => `'${label(symbol)}' ${pct(p)}`).join(", ");
  let text = `Step ${step + 1} of ${view.steps.length}: reading '${step === 0 ? "START" : label(view.steps[step - 1].symbol)}', the decoder ${wrote} (probability ${pct(s.p)}; next best ${others}).`;
  if (focus >= 0) {
    const w = view.weights[step][focus];
    text += ` Its attention looked mostly at source position ${focus + 1}, '${showChar(view.source[focus])}' (weight ${fmt(w, 2)}).`;
  }
  $("attention-step").textContent = text;
}

function renderLegend() {
  clear($("attention-legend")).append(
    el("span", { text: "0" }),
    el("span", { class: "bar weights" }),
    el("span", { text: "1" }),
    el("span", { text: `attention weight α (white 0, blue 1; each row adds up to 1) · ${view.attention} attention` }),
  );
}

/** Black or white, whichever reads better on the rgb() colour (contrast ≥ 4.5 either way). */
function inkOn(colour) {
  const [r, g, b] = colour.match(/\d+/g).map((v) => {
    const c = Number(v) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  const luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  return (luminance + 0.05) / 0.05 >= 1.05 / (luminance + 0.05) ? "#000" : "#fff";
}

function drawMap(focus) {
  const host = $("attention-map");
  const S = view.source.length;
  const U = view.steps.length;
  const available = ($("attention-body").clientWidth || 900) - LEFT - 12;
  const cellW = Math.max(18, Math.min(56, Math.floor(available / S)));
  const cellH = 28;
  const width = LEFT + S * cellW + 8;
  const height = TOP + U * cellH + 6;
  host.setAttribute("viewBox", `0 0 ${width} ${height}`);
  host.setAttribute("width", String(width));
  host.setAttribute("height", String(height));
  host.setAttribute("tabindex", "0");
  const where = focus >= 0 ? `; step ${step + 1} looks mostly at source position ${focus + 1}, '${showChar(view.source[focus])}'` : "";
  host.setAttribute("aria-label", `attention map: ${step + 1} of ${U} output steps shown, ${S} source characters${where}. The table below holds the numbers.`);
  clear(host);
  view.source.forEach((c, s) => {
    const x = LEFT + (s + 0.5) * cellW;
    const cls = s === focus ? "src focus" : "src";
    host.append(svg("text", { class: cls, x, y: 17, "text-anchor": "middle", text: showChar(c) }));
    host.append(svg("text", { class: "pos", x, y: 34, "text-anchor": "middle", text: String(s + 1) }));
  });
  for (let u = 0; u < U; u++) {
    const y = TOP + u * cellH;
    const shown = u <= step;
    const row = svg("g", { class: "row" + (u === step ? " current" : ""), dataset: { u } });
    const s = view.steps[u];
    row.append(svg("text", { class: "step-no", x: 6, y: y + cellH / 2 + 4, text: `u=${u + 1}` }));
    row.append(svg("text", { class: "out", x: LEFT - 8, y: y + cellH / 2 + 5, "text-anchor": "end", text: shown ? label(s.symbol) : "?" }));
    for (let k = 0; k < S; k++) {
      const w = view.weights[u][k];
      const fill = shown ? diverging(w, 1) : "#f4f5fa"; // not written yet
      row.append(svg("rect", { class: "cell", x: LEFT + k * cellW, y, width: cellW - 1, height: cellH - 1, fill, dataset: { w: shown ? String(w) : "" } }));
      if (shown && w >= 0.05 && cellW >= 26) {
        const text = w >= 0.995 ? "1" : fmt(w, 2).replace(/^0/, "");
        row.append(svg("text", { class: "w", x: LEFT + (k + 0.5) * cellW, y: y + cellH / 2 + 4, "text-anchor": "middle", style: `fill:${inkOn(fill)}`, text }));
      }
    }
    row.addEventListener("click", () => go(u));
    host.append(row);
  }
  host.append(svg("rect", { class: "current-row", x: LEFT - 1.5, y: TOP + step * cellH - 1.5, width: S * cellW + 2, height: cellH + 2 }));
  if (focus >= 0) {
    host.append(svg("rect", { class: "focus-col", x: LEFT + focus * cellW, y: 38, width: cellW - 1, height: 3 }));
  }
}

function renderTable() {
  const table = clear($("attention-table"));
  table.append(el("caption", { text: `α of output steps 1–${step + 1} (rows) over the source (columns)` }));
  const head = el("tr", {}, el("th", { scope: "col", text: "step" }), el("th", { scope: "col", text: "wrote" }));
  view.source.forEach((c, s) => head.append(el("th", { scope: "col", text: `${s + 1} '${showChar(c)}'` })));
  table.append(el("thead", {}, head));
  const body = el("tbody");
  for (let u = 0; u <= step; u++) {
    const row = el("tr", { class: u === step ? "current" : "" }, el("th", { scope: "row", text: String(u + 1) }), el("td", { text: label(view.steps[u].symbol) }));
    const best = Math.max(...view.weights[u]);
    for (const w of view.weights[u]) row.append(el("td", { class: w === best ? "best" : "", text: fmt(w, 3) }));
    body.append(row);
  }
  table.append(body);
}

function renderResult() {
  const box = clear($("attention-result"));
  const output = `“${view.output}”`;
  if (view.target === null) {
    box.append(`Output ${output}; there is no expected answer to compare it with.`);
  } else if (view.exact) {
    box.append(el("span", { class: "yes", text: "✓ exact match" }), `: the output ${output} is the expected “${view.target}”.`);
  } else {
    let k = 0;
    while (k < view.output.length && view.output[k] === view.target[k]) k++;
    box.append(el("span", { class: "no", text: "✗ not an exact match" }), `: the output ${output} differs from the expected “${view.target}” from character ${k + 1} on.`);
  }
  if (!view.ended) box.append(` Decoding stopped after ${view.max_steps} characters without writing END.`);
  if (view.held_out) {
    const trained = view.model.step ? `after ${view.model.step} training steps` : "untrained (press Train in panel 1)";
    box.append(el("br"), el("span", { class: "muted", text: `On ${view.held_out.pairs} held-out pairs this model, ${trained}, writes ${pct(view.held_out.exact)} exactly right.` }));
  }
}
