// Panel 2: the sequence type and the examples to pick from.
import { getJSON } from "../api.js";
import { lineChart } from "../charts.js";
import { tableBehind } from "../tables.js";
import { clear, el, fmt, showChar, showError, svg } from "../util.js";

let ctx;
let root;

export function init(context) {
  ctx = context;
  root = ctx.panel("sequence");
  const { state } = ctx;
  const limits = state.lab.limits;
  const $ = (id) => document.getElementById(id);
  $("sequence-text").maxLength = limits.max_text_steps;
  $("seq-length").min = limits.min_numeric_steps;
  $("seq-length").max = limits.max_numeric_steps;

  const tabs = [...root.querySelectorAll("#kind-tabs [role=tab]")];
  for (const tab of tabs) {
    tab.addEventListener("click", () => {
      const kind = tab.dataset.kind === "seq2seq" ? state.seq.pairTask : tab.dataset.kind;
      if (state.seq.kind === kind) return;
      Object.assign(state.seq, { kind, example: 0, text: null });
      state.t = 0;
      markTabs();
      ctx.refreshAll();
    });
    // a tab list is one stop of the Tab key; the arrow keys move along it and choose
    tab.addEventListener("keydown", (event) => {
      const k = tabs.indexOf(tab);
      const to = { ArrowRight: k + 1, ArrowLeft: k - 1, Home: 0, End: tabs.length - 1 }[event.key];
      if (to === undefined) return;
      event.preventDefault();
      const next = tabs[(to + tabs.length) % tabs.length];
      next.focus();
      next.click();
    });
  }
  $("pair-task").addEventListener("change", (event) => {
    Object.assign(state.seq, { kind: event.target.value, pairTask: event.target.value, example: 0, text: null });
    state.t = 0;
    markTabs();
    ctx.refreshAll();
  });
  $("use-text").addEventListener("click", () => {
    const text = $("sequence-text").value;
    const most = maxLength(state.seq.kind);
    if (text.length < 2 || text.length > most) {
      showError(root, `type between 2 and ${most} characters`);
      return;
    }
    state.seq.text = text;
    state.t = 0;
    markExamples();
    ctx.refreshRun().then(() => ctx.emit("refresh-gradients"));
  });
  const numeric = () => {
    const length = Number($("seq-length").value);
    const seed = Number($("seq-seed").value);
    if (!(length >= limits.min_numeric_steps && length <= limits.max_numeric_steps) || !(seed >= 0)) {
      showError(root, `length must be between ${limits.min_numeric_steps} and ${limits.max_numeric_steps}, seed ≥ 0`);
      return;
    }
    Object.assign(state.seq, { length, seed: Math.floor(seed) });
    ctx.refreshRun().then(() => ctx.emit("refresh-gradients"));
  };
  $("seq-length").addEventListener("change", numeric);
  $("seq-seed").addEventListener("change", numeric);

  ctx.onModel((s) => loadExamples(s.model));
  ctx.on("run", preview);
  markTabs();
}

/** The longest typed sequence of a kind: text, a reverse source, a written date. */
function maxLength(kind) {
  const limits = ctx.state.lab.limits;
  if (kind === "reverse") return limits.max_reverse_letters;
  if (kind === "dates") return limits.max_date_chars;
  return limits.max_text_steps;
}

function markTabs() {
  const kind = ctx.state.seq.kind;
  const pair = ctx.isPair(kind);
  for (const tab of root.querySelectorAll("#kind-tabs [role=tab]")) {
    const active = tab.dataset.kind === kind || (pair && tab.dataset.kind === "seq2seq");
    tab.classList.toggle("active", active);
    tab.setAttribute("aria-selected", String(active));
    tab.tabIndex = active ? 0 : -1;
    if (active) document.getElementById("kind-panel").setAttribute("aria-labelledby", tab.id);
  }
  document.getElementById("text-input-row").hidden = kind !== "text" && !pair;
  document.getElementById("numeric-row").hidden = kind === "text" || pair;
  document.getElementById("pair-row").hidden = !pair;
  document.getElementById("pair-task").value = ctx.state.seq.pairTask;
  const box = document.getElementById("sequence-text");
  box.maxLength = maxLength(kind);
  box.rows = pair ? 1 : 3;
  document.getElementById("sequence-text-label").textContent = pair
    ? `…or type your own source (2 to ${maxLength(kind)} characters)`
    : "…or type your own";
}

async function loadExamples(model) {
  const { state } = ctx;
  const box = clear(document.getElementById("examples"));
  let answer;
  try {
    answer = await getJSON(`/api/examples?model=${encodeURIComponent(model.id)}`);
  } catch (error) {
    showError(root, error.message);
    return;
  }
  document.getElementById("kind-description").textContent =
    answer.description ?? "Each character is one time step; the network predicts the next one.";
  for (const example of answer.examples) {
    const shown = example.target ? `${example.text} → ${example.target}` : example.text;
    const button = el(
      "button",
      { class: "example", dataset: { index: example.index } },
      el("span", { class: "title", text: example.title }),
      example.text ? el("span", { class: "text", text: shown.replace(/\n/g, " ↵ ") }) : null,
    );
    button.addEventListener("click", () => {
      Object.assign(state.seq, { example: example.index, text: null });
      state.t = 0;
      if (example.text) document.getElementById("sequence-text").value = example.text;
      markExamples();
      ctx.refreshRun().then(() => ctx.emit("refresh-gradients"));
    });
    box.append(button);
  }
  const known = new Set(model.symbols ?? []);
  if (state.seq.kind === "text" && state.seq.text !== null && ![...state.seq.text].every((c) => known.has(c))) {
    state.seq.text = null; // typed for another vocabulary: start from this model's examples
  }
  if (state.seq.kind === "text" && !answer.examples.some((e) => e.index === state.seq.example)) {
    state.seq.example = answer.examples[0]?.index ?? 0;
  }
  if (state.seq.kind === "text" && answer.examples.length && state.seq.text === null) {
    const chosen = answer.examples.find((e) => e.index === state.seq.example) ?? answer.examples[0];
    state.seq.example = chosen.index;
    document.getElementById("sequence-text").value = chosen.text;
  }
  if (ctx.isPair(state.seq.kind) && state.seq.text === null) {
    const chosen = answer.examples.find((e) => e.index === state.seq.example) ?? answer.examples[0];
    if (chosen) document.getElementById("sequence-text").value = chosen.text;
  }
  if (state.seq.kind === "text" && !answer.examples.length && state.seq.text === null) {
    state.seq.text = [...known].filter((c) => c !== "\n").slice(0, 20).join(""); // any text it can read
    document.getElementById("sequence-text").value = state.seq.text;
  }
  markExamples();
}

function markExamples() {
  const { seq } = ctx.state;
  for (const button of root.querySelectorAll(".example")) {
    button.classList.toggle("active", seq.text === null && Number(button.dataset.index) === seq.example);
  }
}

function preview(run) {
  const previouslyOpen = Boolean(document.getElementById("sequence-table-box")?.open);
  const box = clear(document.getElementById("sequence-preview"));
  root.dataset.steps = String(run.steps);
  if (run.kind === "text") {
    box.append(
      el("p", { class: "muted", text: `“${run.title}”: ${run.steps} characters = ${run.steps} time steps. ` +
        `Newlines show as ${showChar("\n")}, spaces as ${showChar(" ")}.` }),
    );
    return;
  }
  if (run.seq2seq) {
    const source = run.labels.join("");
    const target = run.seq2seq.target;
    box.append(
      el(
        "p",
        { class: "muted" },
        `“${source}”: ${run.steps} characters = ${run.steps} encoder steps (panels 3, 4, 7 and 8 show the encoder reading it). ` +
          (target ? `The decoder should write “${target}”. ` : "No right answer is known for this source. "),
        el("a", { href: "#panel-attention", text: "Follow the decoding in panel 9." }),
      ),
    );
    return;
  }
  const chart = svg("svg", { class: "line-chart", style: "height:150px" });
  box.append(chart);
  const series = run.features.map((name, f) => ({
    label: `input: ${name}`,
    color: ["#7d86a3", "#c9a227"][f],
    points: run.inputs.map((x, t) => [t + 1, x[f]]),
  }));
  series.push({ label: "target", color: "#1c9a6c", points: run.targets.map((y, t) => [t + 1, y]), dash: "5 3" });
  series.push({ label: "network output", color: "#4f46e5", points: run.outputs.map((y, t) => [t + 1, y]) });
  lineChart(chart, { series, xLabel: "time step t", yLabel: "value" });
  chart.setAttribute("role", "img");
  chart.setAttribute("aria-label", `the ${run.steps} steps of the sequence: its inputs (${run.features.join(", ")}), the target and the network's output; the table below holds the numbers`);
  const details = el("details", { class: "data", id: "sequence-table-box" }, el("summary", { text: "The numbers as a table" }));
  details.open = previouslyOpen;
  box.append(details);
  tableBehind(details, () => ({
    caption: "each step's inputs, target and the network's output",
    head: ["step t", ...run.features.map((name) => `input: ${name}`), "target", "output"],
    rows: run.inputs.map((x, t) => [t + 1, ...x.map((v) => fmt(v, 3)), fmt(run.targets[t], 3), fmt(run.outputs[t], 3)]),
  }));
}
