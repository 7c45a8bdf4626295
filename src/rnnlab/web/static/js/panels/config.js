// Panel 1: the network's configuration, training in the background and the live loss curve.
import { getJSON, postJSON } from "../api.js";
import { lineChart } from "../charts.js";
import { tableBehind } from "../tables.js";
import { player } from "../player.js";
import { CELL_NAMES, debounce, el, fmt, showError } from "../util.js";

let ctx;
let root;
let losses = []; // [[step, loss]] of the current model
let valLosses = []; // [[step, loss on the held-out tail]] (text models)
let watching = null; // the promise of the training being watched
const STEP_UPDATES = 10; // the training player's Step

const ATTENTION_TITLES = {
  none: "no attention: the decoder starts from the encoder's last state and never looks back",
  dot: "score q · k_s (Luong et al. 2015)",
  general: "score q · W_a k_s (Luong et al. 2015)",
  additive: "score v · tanh(W_q q + W_k k_s + b) (Bahdanau et al. 2015)",
};

export function init(context) {
  ctx = context;
  root = ctx.panel("config");
  const { state } = ctx;
  const $ = (id) => document.getElementById(id);
  const limits = state.lab.limits;
  $("train-steps").max = limits.max_train_steps;

  if (state.lab.checkpoint) {
    $("source-row").hidden = false;
    const source = $("source");
    source.append(
      el("option", { value: "checkpoint", text: "the loaded checkpoint" }),
      el("option", { value: "builtin", text: "a built-in model (train it here)" }),
    );
    source.value = state.config.source;
    source.addEventListener("change", () => {
      state.config.source = source.value;
      syncControls();
      ctx.refreshAll();
    });
  }
  const choice = $("cell-choice");
  for (const cell of state.lab.cells) {
    const radio = el("input", { type: "radio", name: "cell", value: cell });
    radio.checked = cell === state.config.cell;
    choice.append(el("label", {}, radio, ` ${CELL_NAMES[cell]}`));
  }
  for (const radio of root.querySelectorAll("input[name=cell]")) {
    radio.addEventListener("change", () => {
      state.config.cell = radio.value;
      ctx.refreshAll();
    });
  }
  const attention = $("attention-choice");
  for (const kind of state.lab.attention_kinds) {
    const radio = el("input", { type: "radio", name: "attention", value: kind });
    radio.checked = kind === state.config.attention;
    radio.addEventListener("change", () => {
      state.config.attention = radio.value;
      ctx.refreshAll();
    });
    attention.append(el("label", { title: ATTENTION_TITLES[kind] }, radio, ` ${kind === "none" ? "none (last state only)" : kind}`));
  }
  $("hidden").addEventListener("change", (e) => {
    state.config.hidden = Number(e.target.value);
    ctx.refreshAll();
  });
  $("layers").addEventListener("change", (e) => {
    state.config.layers = Number(e.target.value);
    ctx.refreshAll();
  });
  $("residual").addEventListener("change", (e) => {
    state.config.residual = e.target.checked;
    ctx.refreshAll();
  });
  $("corpus").addEventListener("change", (e) => {
    state.config.corpus = e.target.value;
    $("corpus-text").hidden = e.target.value !== "text";
    if (e.target.value === "text" && !state.config.corpusText) {
      $("corpus-text").value = "hello world. hello recurrent world. hello again, world.\n".repeat(3);
      state.config.corpusText = $("corpus-text").value;
    }
    ctx.refreshAll();
  });
  const typed = debounce(() => {
    state.config.corpusText = $("corpus-text").value;
    if (state.config.corpusText.length < limits.min_corpus_chars) {
      showError(root, `type at least ${limits.min_corpus_chars} characters to train on`);
      return;
    }
    ctx.refreshAll();
  }, 700);
  $("corpus-text").addEventListener("input", typed);
  $("train").addEventListener("click", () => train());
  const box = el("div", { class: "player", id: "train-player" });
  root.querySelector(".train-row").after(box);
  // play trains chunk after chunk of the chosen steps until paused; pause stops after the
  // update under way; step trains a few updates; reset makes the model fresh again
  player(box, {
    what: "training",
    stepName: `train ${STEP_UPDATES} updates`,
    resetName: "a fresh, untrained model (the same seed)",
    hint: `Play trains chunk after chunk of the steps above until paused; Step trains ${STEP_UPDATES} updates; Reset makes the model untrained again.`,
    start: async () => {
      await watching;
      return Boolean(state.model?.trainable);
    },
    advance: async () => (await train())?.message === "",
    step: () => train(STEP_UPDATES),
    stop: () => postJSON(`/api/models/${state.model.id}/stop`, {}).catch(() => {}),
    reset: resetModel,
  });
  $("stop").addEventListener("click", () => postJSON(`/api/models/${state.model.id}/stop`, {}).catch(() => {}));

  let shown = null;
  ctx.on("model", (model) => {
    if (model.id !== shown) {
      // Adam's step size: 0.003 suits the text models, the small numeric tasks like 0.01
      $("train-lr").value = model.task === "text" ? "0.003" : "0.01";
      shown = model.id;
    }
    renderInfo(model);
    loadLosses(model);
  });
  ctx.on("textmodel", () => syncControls());
  ctx.on("model", () => syncControls());
  syncControls();
}

/** Controls show the configuration; a checkpoint's own sizes when it is the source. */
function syncControls() {
  const { state } = ctx;
  const fromCheckpoint = state.config.source === "checkpoint";
  if (fromCheckpoint && state.textModel?.id === state.lab.checkpoint) {
    const m = state.textModel;
    Object.assign(state.config, { cell: m.cell, hidden: m.hidden_size, layers: m.num_layers, residual: m.residual });
  }
  for (const radio of root.querySelectorAll("input[name=cell]")) {
    radio.checked = radio.value === state.config.cell;
    radio.disabled = fromCheckpoint;
  }
  const hidden = document.getElementById("hidden");
  if (![...hidden.options].some((o) => Number(o.value) === state.config.hidden)) {
    hidden.append(el("option", { text: String(state.config.hidden) }));
  }
  hidden.value = String(state.config.hidden);
  document.getElementById("layers").value = String(state.config.layers);
  for (const id of ["hidden", "layers", "corpus"]) document.getElementById(id).disabled = fromCheckpoint;
  const pair = ctx.isPair(state.seq.kind);
  const residual = document.getElementById("residual");
  residual.checked = !pair && state.config.residual && state.config.layers > 1;
  residual.disabled = fromCheckpoint || pair || state.config.layers < 2;
  document.getElementById("attention-choice").hidden = !pair; // the seq2seq decoder's
  for (const radio of root.querySelectorAll("input[name=attention]")) radio.checked = radio.value === state.config.attention;
}

function renderInfo(model) {
  const { state } = ctx;
  const info = document.getElementById("model-info");
  let reads =
    model.task === "text"
      ? `reads text (${model.vocab_size} distinct characters) from ${model.source}`
      : `reads the ${(state.lab.tasks[model.task] ?? "").toLowerCase()} sequences`;
  if (ctx.isPair(model.task)) {
    const attention = model.attention === "none" ? "no attention" : `${model.attention} attention`;
    reads = `encoder–decoder, ${attention} · ${state.lab.pair_tasks[model.task].toLowerCase()}, trained on ${model.source.split(": ")[1] ?? model.source}`;
  }
  info.replaceChildren(
    el("b", { text: `${CELL_NAMES[model.cell]} ${model.num_layers}×${model.hidden_size}${model.residual ? " residual" : ""}${model.proj_size ? ` projected to ${model.proj_size}` : ""}` }),
    ` · ${model.parameters.toLocaleString()} parameters · ${reads} · `,
    el("b", { text: model.step ? `trained ${model.step} steps` : "untrained" }),
    model.loss !== null ? ` · last loss ${fmt(model.loss, 3)}` : "",
  );
  const button = document.getElementById("train");
  button.disabled = !model.trainable || model.training;
  button.title = model.trainable ? "" : "a loaded checkpoint is shown, not trained; choose a built-in model to train";
  button.textContent = `Train ${model.task === "text" ? "the text model" : "this model"}`;
}

async function loadLosses(model) {
  try {
    const status = await getJSON(`/api/models/${model.id}/training?since=0`);
    losses = status.losses;
    valLosses = status.val_losses;
    drawLosses();
    if (status.running) poll();
  } catch (error) {
    showError(root, error.message);
  }
}

function drawLosses() {
  const model = ctx.state.model;
  const pair = model && ctx.isPair(model.task);
  const refs = model?.task === "text" && model.vocab_size ? [{ y: Math.log(model.vocab_size), label: "uniform guess, ln V" }] : [];
  // the decoder never writes START: a uniform guess spreads over the other V − 1 symbols
  if (pair) refs.push({ y: Math.log(model.target_vocab_size - 1), label: "uniform guess, ln (V − 1)" });
  const series = [{ label: "training loss", color: "#4f46e5", points: losses, dataset: { kind: "loss" } }];
  if (valLosses.length) series.push({ label: "validation (held-out text)", color: "#b8461b", points: valLosses, dots: true, dataset: { kind: "val" } });
  lineChart(document.getElementById("loss-chart"), {
    series,
    xLabel: "training step",
    yLabel: model?.task === "text" ? "nats / char" : pair ? "nats / output char" : "mean squared error",
    refs,
    empty: model?.trainable === false ? "trained outside the lab: no loss curve here" : "not trained yet: press Train",
  });
  const chart = document.getElementById("loss-chart");
  const last = losses.at(-1);
  const val = valLosses.at(-1);
  const said = val ? `; validation loss ${fmt(val[1], 3)} at step ${val[0]}` : "";
  chart.setAttribute("aria-label", last ? `training loss over ${losses.length} steps, from ${fmt(losses[0][1], 3)} to ${fmt(last[1], 3)}${said}; the table below holds the numbers` : "training loss: not trained yet");
  tableBehind(document.getElementById("loss-table-box"), () => {
    const every = Math.max(1, Math.ceil(losses.length / 100)); // at most about 100 rows
    const rows = new Map(losses.filter((_, k) => k % every === 0 || k === losses.length - 1).map(([step, loss]) => [step, [step, fmt(loss, 4), "—"]]));
    for (const [step, loss] of valLosses) rows.set(step, [step, rows.get(step)?.[1] ?? "—", fmt(loss, 4)]);
    const caption = (every > 1 ? `the loss at every ${every}th step and the last` : "the loss at every step") + (valLosses.length ? ", and the validation loss where it was measured" : "");
    const head = valLosses.length ? ["step", "loss", "validation loss"] : ["step", "loss"];
    const table = [...rows.values()].sort((a, b) => a[0] - b[0]).map((row) => row.slice(0, head.length));
    return { caption: losses.length ? caption : "not trained yet", head, rows: table };
  });
}

/** Train `steps` more updates (default: the Steps box); resolves with the last status once
 * the training has stopped (all done, stopped, or cut short: see its message), or null if
 * it could not start. */
async function train(steps = null) {
  const { state } = ctx;
  steps ??= Number(document.getElementById("train-steps").value);
  const max = state.lab.limits.max_train_steps;
  if (!(steps >= 1 && steps <= max)) {
    showError(root, `steps must be between 1 and ${max}`);
    return null;
  }
  try {
    const lr = Number(document.getElementById("train-lr").value);
    await postJSON(`/api/models/${state.model.id}/train`, { steps, lr });
    showError(root, "");
  } catch (error) {
    showError(root, error.message);
    return null;
  }
  return poll();
}

/** Follow the training of the current model until it stops; its last status (or null). */
function poll() {
  if (watching) return watching;
  const { state } = ctx;
  const id = state.model.id;
  const $ = (name) => document.getElementById(name);
  $("train").disabled = true;
  $("stop").disabled = false;
  const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  watching = (async () => {
    let lastRefresh = performance.now();
    try {
      for (let wait = 150; ; wait = 300) {
        await pause(wait);
        const status = await getJSON(`/api/models/${id}/training?since=${losses.length}`);
        if (state.model.id !== id) return null;
        losses.push(...status.losses);
        valLosses = status.val_losses;
        drawLosses();
        $("train-progress").textContent = status.running ? `step ${status.step} of ${status.target}…` : status.message;
        root.dataset.step = String(status.step);
        if (performance.now() - lastRefresh > 2000) {
          lastRefresh = performance.now();
          ctx.refreshRun(); // watch the states change as it learns
        }
        if (!status.running) {
          await modelChanged(await getJSON(`/api/models/${id}`));
          return status;
        }
      }
    } catch (error) {
      showError(root, error.message);
      return null;
    } finally {
      watching = null;
      $("stop").disabled = true;
      $("train").disabled = !ctx.state.model?.trainable;
    }
  })();
  return watching;
}

/** The model was trained or reset: every panel shows it as it is now. */
async function modelChanged(info) {
  const { state } = ctx;
  state.model = info;
  if (info.task === "text") state.textModel = info;
  renderInfo(info);
  await ctx.refreshRun();
  ctx.emit("refresh-gradients");
  ctx.emit("refresh-next");
  ctx.emit("trained", info);
}

/** POST …/reset: the model untrained again (same seed), its loss curve restarting. */
async function resetModel() {
  const { state } = ctx;
  try {
    const info = await postJSON(`/api/models/${state.model.id}/reset`, {});
    losses = [];
    valLosses = [];
    drawLosses();
    document.getElementById("train-progress").textContent = "reset: the model is fresh again (its curve so far is kept in Compare runs)";
    root.dataset.step = "0";
    showError(root, "");
    await modelChanged(info);
  } catch (error) {
    showError(root, error.message);
  }
}
