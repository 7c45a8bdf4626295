// The page's state and the few actions that change it; each panel renders from events.
import { getJSON, postJSON } from "./api.js";
import * as config from "./panels/config.js";
import * as sequence from "./panels/sequence.js";
import * as unrolled from "./panels/unrolled.js";
import * as heatmaps from "./panels/heatmaps.js";
import * as generate from "./panels/generate.js";
import * as gradients from "./panels/gradients.js";
import * as neuron from "./panels/neuron.js";
import * as equations from "./panels/equations.js";
import * as attention from "./panels/attention.js";
import * as bptt from "./panels/bptt.js";
import * as connectivity from "./panels/connectivity.js";
import * as match from "./panels/match.js";
import * as runs from "./panels/runs.js";
import * as apps from "./panels/apps.js";
import * as lessons from "./lessons.js";
import { installPopupClosers } from "./popup.js";
import { openToggles, readAddress, writeAddress } from "./address.js";
import { debounce, setCells, showError } from "./util.js";

const state = {
  lab: null, // limits, cells, tasks, checkpoint
  config: { source: "builtin", cell: "lstm", hidden: 64, layers: 1, residual: false, corpus: "shakespeare", corpusText: "", attention: "general" },
  seq: { kind: "text", example: 0, text: null, length: 40, seed: 0, pairTask: "reverse" },
  model: null, // info of the model that reads the chosen sequence
  textModel: null, // info of the text model (generation)
  run: null, // the last /api/run answer
  t: 0, // selected time step
  unit: 0, // selected hidden unit
  unitAuto: true, // until a unit is picked, the server shows the one that varies most
  layer: 0,
};

const listeners = {};
function on(event, fn) {
  (listeners[event] ??= []).push(fn);
}
function emit(event, detail) {
  for (const fn of listeners[event] ?? []) {
    try {
      fn(detail);
    } catch (error) {
      console.error(error); // a broken panel must not stop the others
    }
  }
}

const modelHooks = [];
/** Register `fn(state)`, awaited whenever the models change, before the sequence is run. */
function onModel(fn) {
  modelHooks.push(fn);
}

function panel(name) {
  return document.querySelector(`[data-panel="${name}"]`);
}

function status(text) {
  document.getElementById("status").textContent = text;
}

/** True for the encoder–decoder tasks (reverse, dates): the "Seq2seq" sequences. */
function isPair(kind) {
  return Object.hasOwn(state.lab?.pair_tasks ?? {}, kind);
}

function modelSpec(task) {
  const c = state.config;
  const pair = isPair(task);
  const spec = { task, cell: c.cell, hidden_size: c.hidden, num_layers: c.layers, residual: !pair && c.residual && c.layers > 1 };
  if (task === "text" && c.corpus === "text") Object.assign(spec, { corpus: "text", text: c.corpusText });
  if (pair) spec.attention = c.attention;
  return spec;
}

/** The models for the current configuration and sequence kind (made if new). */
async function ensureModels() {
  const kind = state.seq.kind;
  const previous = state.model?.id;
  const checkpoint = state.config.source === "checkpoint" ? state.lab.checkpoint : null;
  try {
    const text = checkpoint ? await getJSON(`/api/models/${checkpoint}`) : await postJSON("/api/models", modelSpec("text"));
    state.textModel = text;
    state.model = kind === "text" ? text : await postJSON("/api/models", modelSpec(kind));
    showError(panel("config"), "");
  } catch (error) {
    showError(panel("config"), error.message);
    throw error;
  }
  if (state.layer >= state.model.num_layers) state.layer = 0;
  if (previous && state.model.id !== previous) state.unitAuto = true; // new units: start from the liveliest
  emit("model", state.model);
  emit("textmodel", state.textModel);
  await Promise.all(modelHooks.map((fn) => fn(state)));
}

function sequenceSpec() {
  const s = state.seq;
  if (s.kind === "text" || isPair(s.kind)) return s.text !== null ? { kind: s.kind, text: s.text } : { kind: s.kind, example: s.example };
  return { kind: s.kind, example: s.example, length: s.length, seed: s.seed };
}

/** True when the model reads the chosen kind of sequence; false while a newer choice's
 * models are still being made (a request now would pair a model with the wrong kind). */
function inStep() {
  return Boolean(state.model) && state.model.task === state.seq.kind;
}

let runTicket = 0;
/** Run the model over the sequence with the probes on; panels 3, 4, 7, 8 redraw. */
async function refreshRun() {
  if (!inStep()) return;
  const ticket = ++runTicket;
  const unit = state.unitAuto ? null : state.unit;
  const body = { model: state.model.id, sequence: sequenceSpec(), layer: state.layer, unit };
  try {
    const run = await postJSON("/api/run", body);
    if (ticket !== runTicket) return;
    state.run = run;
    state.unit = run.unit;
    state.t = Math.min(state.t, run.steps - 1);
    for (const name of ["sequence", "unrolled", "heatmap", "neuron", "equations"]) showError(panel(name), "");
    emit("run", run);
  } catch (error) {
    if (ticket === runTicket) showError(panel("sequence"), error.message);
  }
}

/** Select a time step and/or a unit; a new unit needs that unit's equation terms. */
function select({ t, unit }) {
  if (t !== undefined) state.t = Math.max(0, Math.min(t, (state.run?.steps ?? 1) - 1));
  if (unit !== undefined && unit !== state.unit) {
    state.unit = Math.max(0, Math.min(unit, (state.model?.hidden_size ?? 1) - 1));
    state.unitAuto = false;
    emit("select", state);
    refreshRun();
    return;
  }
  emit("select", state);
}

async function refreshAll() {
  status("computing…");
  await ensureModels();
  await refreshRun();
  emit("refresh-gradients");
  emit("refresh-next");
  status("");
}

const ctx = { state, on, onModel, emit, panel, status, ensureModels, refreshRun, refreshAll, select, sequenceSpec, isPair, inStep };

// what the page's address keeps besides the state: the generation and the decoding step
const extra = { generation: generate.generation, decodingStep: attention.currentStep, lesson: lessons.currentLesson, bpttPosition: bptt.currentPosition };

/** From now on, every change of a setting is written into the page's address. */
function followChanges() {
  const save = debounce(() => writeAddress(ctx, extra), 150);
  for (const event of ["run", "select", "model", "generated", "decoding-step", "bptt-step", "connectivity-step", "gen-position", "how-step"]) on(event, save);
  for (const event of ["input", "change", "toggle", "click"]) document.addEventListener(event, save, true);
  writeAddress(ctx, extra);
}

async function start() {
  state.lab = await getJSON("/api/lab");
  setCells(state.lab.cell_info);
  if (state.lab.checkpoint) state.config.source = "checkpoint";
  const restore = readAddress(ctx, extra);
  if (restore.dec !== null) attention.restoreStep(restore.dec);
  if (restore.bpos !== null) bptt.restorePosition(restore.bpos);
  lessons.init(); // before the panels: those a lesson does not show stay hidden
  installPopupClosers();
  for (const module of [config, sequence, unrolled, heatmaps, generate, gradients, neuron, equations, attention, bptt, connectivity, match, runs, apps]) {
    module.init(ctx);
  }
  openToggles(restore.open);
  await refreshAll();
  if (restore.generation) await generate.generate(restore.generation);
  openToggles(restore.open); // those drawn with the panels
  followChanges();
  document.body.dataset.ready = "true";
}

start().catch((error) => {
  status(`error: ${error.message}`);
  console.warn(error);
});
