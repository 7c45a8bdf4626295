// Panel "Compare runs" (as TensorBoard's scalars): the training and validation loss
// curves of every run the lab knows (GET /api/runs) overlaid, smoothed by an
// exponential moving average with the raw curve faint behind, on a linear or log axis.
import { keepInAddress } from "../address.js";
import { getJSON } from "../api.js";
import { lineChart } from "../charts.js";
import { tableBehind } from "../tables.js";
import { el, fmt, showError } from "../util.js";

const COLORS = ["#4f46e5", "#b8461b", "#11694a", "#a1267a", "#1f6fa8", "#7a5c00", "#c0392b", "#3d6b1f", "#6b4c9a", "#37474f"];
const KINDS = { lab: "trained in this lab", past: "kept from before a reset", file: "a run of rnnlab train" };
const TABLE_POINTS = 50; // rows per curve in the table behind the chart

let ctx;
let root;
let runs = []; // the last GET /api/runs answer's runs
let selected = null; // null: every run; else the Set of the ids shown
let ticket = 0;

const $ = (id) => document.getElementById(id);
const options = (id) => [...$(id).options].map((o) => o.value);
keepInAddress(
  { key: "runs", get: () => selection(), set: (text) => (selected = new Set(text.split(",").filter(Boolean))) },
  { key: "smooth", get: () => $("runs-smoothing").value, set: (text) => /^0(\.\d{1,2})?$/.test(text) && ($("runs-smoothing").value = text) },
  { key: "rcurves", get: () => $("runs-curves").value, set: (text) => options("runs-curves").includes(text) && ($("runs-curves").value = text) },
  { key: "rscale", get: () => $("runs-scale").value, set: (text) => options("runs-scale").includes(text) && ($("runs-scale").value = text) },
);

/**
 * TensorBoard's smoothing: an exponential moving average with weight w in [0, 1),
 * debiased so that it starts at the first value: s_n = m_n / (1 − wⁿ) with
 * m_n = w m_{n−1} + (1 − w) y_n, m_0 = 0 (n counts the finite values; a value that is
 * not finite is passed through).
 */
export function smooth(values, weight) {
  let m = 0;
  let n = 0;
  return values.map((y) => {
    if (!Number.isFinite(y)) return y;
    m = weight * m + (1 - weight) * y;
    n += 1;
    return m / (1 - weight ** n);
  });
}

/** The runs shown, for the page's address: "" for all of them, else their ids. */
export function selection() {
  return selected === null ? "" : [...selected].join(",");
}

export function init(context) {
  ctx = context;
  root = ctx.panel("runs");
  const redraw = () => draw();
  $("runs-smoothing").addEventListener("input", () => {
    $("runs-smoothing-value").textContent = fmt(Number($("runs-smoothing").value), 2);
    draw();
  });
  $("runs-smoothing-value").textContent = fmt(Number($("runs-smoothing").value), 2);
  $("runs-curves").addEventListener("change", redraw);
  $("runs-scale").addEventListener("change", redraw);
  $("runs-refresh").addEventListener("click", load);
  ctx.on("trained", load);
  window.addEventListener("resize", redraw);
  load();
}

/** Fetch every run's curves and draw them. */
export async function load() {
  const mine = ++ticket;
  try {
    const answer = await getJSON("/api/runs");
    if (mine !== ticket) return;
    runs = answer.runs;
    showError(root, "");
    list();
    draw();
    root.dataset.runs = String(runs.length);
    root.dataset.ready = "true";
  } catch (error) {
    if (mine === ticket) showError(root, error.message);
  }
}

function colour(k) {
  return COLORS[k % COLORS.length];
}

function shown(run) {
  return selected === null || selected.has(run.id);
}

/** The checkboxes: one per run, its colour, what it is, and anything its file said. */
function list() {
  const box = $("runs-list");
  for (const old of box.querySelectorAll(".run")) old.remove();
  $("runs-empty").hidden = runs.length > 0;
  runs.forEach((run, k) => {
    const check = el("input", { type: "checkbox", value: run.id, dataset: { run: run.id } });
    check.checked = shown(run);
    check.addEventListener("change", () => {
      selected ??= new Set(runs.map((r) => r.id));
      if (check.checked) selected.add(run.id);
      else selected.delete(run.id);
      if (runs.every((r) => selected.has(r.id))) selected = null; // all again: new runs too
      draw();
    });
    const last = run.train.at(-1);
    const said = [KINDS[run.kind], `${run.steps} steps`, last ? `last loss ${fmt(last[1], 3)}` : "no training loss"];
    if (run.val.length) said.push(`validation ${fmt(run.val.at(-1)[1], 3)}`);
    box.append(
      el(
        "div",
        { class: "run" },
        el("label", {}, check, el("span", { class: "swatch", "aria-hidden": "true", style: `background:${colour(k)}` }), ` ${run.title}`),
        el("span", { class: "muted run-meta", text: said.join(" · ") }),
        run.message ? el("span", { class: "run-message", text: run.message }) : null,
      ),
    );
  });
}

/** The curves asked for: [{run, k, curve: "train" | "val", points}]. */
function curves() {
  const which = $("runs-curves").value;
  const out = [];
  runs.forEach((run, k) => {
    if (!shown(run)) return;
    for (const curve of ["train", "val"]) {
      if ((which === "both" || which === curve) && run[curve].length) out.push({ run, k, curve, points: run[curve] });
    }
  });
  return out;
}

function draw() {
  if (!root) return;
  const weight = Number($("runs-smoothing").value);
  const log = $("runs-scale").value === "log";
  // the training curves (a loss per update) are smoothed; the validation points, a few
  // measured far apart, are drawn as they are (an average over them would lag far behind)
  const drawn = curves().map((c) => ({ ...c, smoothed: c.curve === "train" ? smooth(c.points.map(([, y]) => y), weight) : c.points.map(([, y]) => y) }));
  const series = [];
  for (const c of drawn) {
    const dataset = { run: c.run.id, curve: c.curve };
    if (c.curve === "val") {
      series.push({ label: `${c.run.title} · validation`, color: colour(c.k), dash: "6 4", dots: true, points: c.points, dataset });
      continue;
    }
    if (weight > 0) series.push({ label: "", color: colour(c.k), points: c.points, dataset: { ...dataset, raw: "1" } });
    const points = c.points.map(([x], i) => [x, c.smoothed[i]]);
    series.push({ label: `${c.run.title} · training`, color: colour(c.k), points, dataset: { ...dataset, smoothed: "1" } });
  }
  const chart = $("runs-chart");
  lineChart(chart, {
    series,
    legend: false,
    logY: log,
    valueTicks: true,
    floor: 1e-6,
    xLabel: "step",
    yLabel: log ? "loss (log scale)" : "loss",
    empty: runs.length ? "no curve chosen: tick a run above" : "no run yet: train a model in panel 1",
  });
  root.dataset.weight = String(weight);
  root.dataset.curves = String(drawn.length);
  const names = drawn.map((c) => `${c.run.title} (${c.curve === "val" ? "validation" : "training"}, last ${fmt(c.smoothed.at(-1), 3)})`);
  chart.setAttribute("aria-label", drawn.length ? `Loss against step, ${drawn.length} curves, the training ones smoothed with weight ${fmt(weight, 2)}: ${names.join("; ")}. The table below holds the numbers.` : "Loss curves: none shown");
  tableBehind($("runs-table-box"), () => table(drawn, weight));
}

/** Each curve shown, at most TABLE_POINTS of its points: step, loss, smoothed loss. */
function table(drawn, weight) {
  const rows = [];
  for (const c of drawn) {
    const n = c.points.length;
    const every = Math.max(1, Math.ceil(n / TABLE_POINTS));
    c.points.forEach(([step, loss], i) => {
      const val = c.curve === "val";
      if (i % every === 0 || i === n - 1) rows.push([c.run.title, val ? "validation" : "training", step, fmt(loss, 4), val ? "—" : fmt(c.smoothed[i], 4)]);
    });
  }
  return {
    caption: rows.length ? `Each curve shown, at most ${TABLE_POINTS} points: the loss, and the training loss smoothed (weight ${fmt(weight, 2)})` : "no curve shown",
    head: ["run", "curve", "step", "loss", "smoothed"],
    rows,
  };
}

