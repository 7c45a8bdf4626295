// Panel "Applications": a forecaster, a genre classifier and a word model, each trained
// here by rnnlab's own application (POST /api/apps/...), one tab each. This module keeps
// the settings (in the page's address), the tabs and the training; app-views.js draws
// what each trained model says.
import { getJSON, postJSON } from "../api.js";
import { keepInAddress } from "../address.js";
import { CELL_NAMES, el, fmt } from "../util.js";
import * as views from "./app-views.js";

const APPS = ["forecast", "classify", "complete"];
const PREFIX = { forecast: "fc", classify: "cl", complete: "wc" };
// what is trained (sent to the server) and what is only looked at, per application
const MODEL_KEYS = {
  forecast: ["series", "cell", "hidden_size", "window", "steps", "seed"],
  classify: ["cell", "hidden_size", "epochs", "seed"],
  complete: ["cell", "hidden_size", "steps", "seed"],
};
const DEFAULTS = {
  tab: "forecast",
  forecast: { series: "sines", cell: "lstm", hidden_size: 32, window: 24, steps: 500, seed: 0, horizon: 24, start: 0 },
  classify: { cell: "lstm", hidden_size: 32, epochs: 1, seed: 0, text: "" },
  complete: { cell: "lstm", hidden_size: 64, steps: 300, seed: 0, text: "To be, or not to" },
};
const settings = structuredClone(DEFAULTS);

// [address key, application, setting, control id, kind]; kind: "select" (one of the
// control's options), "steps" (1 … the limit), "seed", "text" (a length limit)
const PARAMS = [
  ["fseries", "forecast", "series", "fc-series", "select"],
  ["fcell", "forecast", "cell", "fc-cell", "cell"],
  ["fhidden", "forecast", "hidden_size", "fc-hidden", "select"],
  ["fwindow", "forecast", "window", "fc-window", "select"],
  ["fsteps", "forecast", "steps", "fc-steps", "max_forecast_steps"],
  ["fseed", "forecast", "seed", "fc-seed", "seed"],
  ["fh", "forecast", "horizon", "fc-horizon", "select"],
  ["fstart", "forecast", "start", "fc-start", "start"],
  ["kcell", "classify", "cell", "cl-cell", "cell"],
  ["khidden", "classify", "hidden_size", "cl-hidden", "select"],
  ["kepochs", "classify", "epochs", "cl-epochs", "select"],
  ["kseed", "classify", "seed", "cl-seed", "seed"],
  ["ktext", "classify", "text", "cl-text", "max_classify_chars"],
  ["wcell", "complete", "cell", "wc-cell", "cell"],
  ["whidden", "complete", "hidden_size", "wc-hidden", "select"],
  ["wsteps", "complete", "steps", "wc-steps", "max_complete_steps"],
  ["wseed", "complete", "seed", "wc-seed", "seed"],
  ["wtext", "complete", "text", "wc-text", "max_complete_prompt"],
];

const $ = (id) => document.getElementById(id);
const isInt = (text, lo, hi) => /^\d+$/.test(text) && Number(text) >= lo && Number(text) <= hi;

/** Take `text` for a setting if it is valid for its kind (else keep the default). */
function restore(app, key, id, kind, text, limits) {
  const numeric = typeof DEFAULTS[app][key] === "number";
  let ok;
  if (kind === "select") ok = [...$(id).options].some((o) => o.value === text);
  else if (kind === "cell") ok = /^[a-z_]+$/.test(text); // checked against the lab's cells at init
  else if (kind === "seed") ok = isInt(text, 0, 2 ** 31 - 1);
  else if (kind === "start") ok = isInt(text, 0, 10000);
  else if (kind.startsWith("max_") && numeric) ok = isInt(text, 1, limits[kind]);
  else ok = text.length <= limits[kind];
  if (ok) settings[app][key] = numeric ? Number(text) : text;
}

keepInAddress(
  { key: "app", get: () => settings.tab, set: (text) => APPS.includes(text) && (settings.tab = text) },
  ...PARAMS.map(([param, app, key, id, kind]) => ({
    key: param,
    get: () => String(settings[app][key]),
    set: (text, limits) => restore(app, key, id, kind, text, limits),
  })),
);

let ctx;
let root;
const status = {}; // application → the server's status of its model with the current settings
const polling = {};

export function init(context) {
  ctx = context;
  root = ctx.panel("apps");
  const limits = ctx.state.lab.limits;
  for (const select of root.querySelectorAll("select.app-cell")) {
    for (const cell of ctx.state.lab.cells) select.append(el("option", { value: cell, text: CELL_NAMES[cell] ?? cell }));
  }
  $("fc-steps").max = limits.max_forecast_steps;
  $("wc-steps").max = limits.max_complete_steps;
  $("cl-text").maxLength = limits.max_classify_chars;
  $("wc-text").maxLength = limits.max_complete_prompt;
  for (const app of APPS) {
    if (!ctx.state.lab.cells.includes(settings[app].cell)) settings[app].cell = DEFAULTS[app].cell;
  }
  for (const [, app, key, id] of PARAMS) if (key !== "start") $(id).value = String(settings[app][key]);
  wireTabs();
  for (const [, app, key, id] of PARAMS) {
    if (!MODEL_KEYS[app].includes(key)) continue;
    $(id).addEventListener("change", () => {
      if (!readSetting(app, key, id)) return;
      ensure(app);
    });
  }
  for (const app of APPS) {
    $(`${PREFIX[app]}-train`).addEventListener("click", () => train(app));
    $(`${PREFIX[app]}-stop`).addEventListener("click", () => stop(app));
  }
  views.init({ settings, root, show: showError, trained: (app) => status[app] });
  markTabs();
  Promise.all(APPS.map(ensure)).then(() => (root.dataset.ready = "true"));
}

/** Read a model setting from its control; false (and an error line) if it is not valid. */
function readSetting(app, key, id) {
  const limits = ctx.state.lab.limits;
  const text = $(id).value.trim();
  const max = key === "steps" ? limits[app === "forecast" ? "max_forecast_steps" : "max_complete_steps"] : 2 ** 31 - 1;
  if ($(id).type === "number" && !isInt(text, key === "seed" ? 0 : 1, max)) {
    showError(app, `${key === "seed" ? "the seed must be a whole number ≥ 0" : `steps must be a whole number from 1 to ${max}`}`);
    return false;
  }
  settings[app][key] = typeof DEFAULTS[app][key] === "number" ? Number(text) : text;
  return true;
}

function wireTabs() {
  const tabs = [...root.querySelectorAll("#app-tabs [role=tab]")];
  for (const tab of tabs) {
    tab.addEventListener("click", () => {
      settings.tab = tab.dataset.app;
      markTabs();
    });
    // one stop of the Tab key; the arrow keys move along the tabs and choose
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
}

function markTabs() {
  for (const tab of root.querySelectorAll("#app-tabs [role=tab]")) {
    const active = tab.dataset.app === settings.tab;
    tab.classList.toggle("active", active);
    tab.setAttribute("aria-selected", String(active));
    tab.tabIndex = active ? 0 : -1;
    $(`app-${tab.dataset.app}`).hidden = !active;
  }
  root.dataset.tab = settings.tab;
  views.shown(settings.tab); // a chart drawn while hidden has no width: draw it again
}

function showError(app, message) {
  $(`${PREFIX[app]}-error`).textContent = message ? String(message) : "";
}

function modelSettings(app) {
  return Object.fromEntries(MODEL_KEYS[app].map((key) => [key, settings[app][key]]));
}

/** The model with the current settings (made if new); shows it, trained or not. */
async function ensure(app) {
  try {
    const answer = await postJSON(`/api/apps/${app}`, modelSettings(app));
    if (MODEL_KEYS[app].some((key) => answer.settings[key] !== settings[app][key])) return; // settings changed since
    status[app] = answer;
    showError(app, "");
    render(app);
    if (answer.running) poll(app);
  } catch (error) {
    showError(app, error.message);
  }
}

/** The pane of `app` as its model's status says: progress, buttons and results. */
function render(app) {
  const s = status[app];
  const pane = $(`app-${app}`);
  const p = PREFIX[app];
  pane.dataset.model = s.id;
  pane.dataset.state = s.running ? "training" : s.trained ? "trained" : "untrained";
  $(`${p}-train`).disabled = s.running;
  $(`${p}-stop`).disabled = !s.running;
  $(`${p}-progress`).textContent = progressLine(s);
  const result = $(`${p}-result`);
  result.hidden = !s.trained;
  if (s.trained && !s.running) views.draw(app, s);
}

function progressLine(s) {
  if (s.running) {
    const last = s.losses.at(-1);
    const loss = last ? ` · loss ${fmt(last[1], 4)}` : "";
    return s.phase === "training" ? `${s.title}: step ${s.step} of ${s.target}${loss} · ${fmt(s.seconds, 1)} s` : `${s.title}: ${s.phase}…`;
  }
  if (s.message) return s.message;
  if (s.trained) return `${s.title}: trained ${s.step} steps in ${fmt(s.seconds, 1)} s (the same settings train the same model; another seed, another one).`;
  return `${s.title}: not trained yet. Press Train (a few seconds).`;
}

async function train(app) {
  const p = PREFIX[app];
  for (const [, a, key, id] of PARAMS) if (a === app && MODEL_KEYS[app].includes(key) && !readSetting(app, key, id)) return;
  try {
    await ensure(app);
    status[app] = await postJSON(`/api/apps/models/${status[app].id}/train`);
    showError(app, "");
    render(app);
    $(`${p}-stop`).focus(); // the Train button is disabled now: keep the focus on a control
    poll(app);
  } catch (error) {
    showError(app, error.message);
  }
}

async function stop(app) {
  try {
    await postJSON(`/api/apps/models/${status[app].id}/stop`);
  } catch (error) {
    showError(app, error.message);
  }
}

function poll(app) {
  if (polling[app]) return;
  const id = status[app].id;
  const tick = async () => {
    try {
      const answer = await getJSON(`/api/apps/models/${id}`);
      if (status[app]?.id !== id) return done();
      status[app] = answer;
      render(app);
      if (!answer.running) {
        done();
        if (document.activeElement === $(`${PREFIX[app]}-stop`)) $(`${PREFIX[app]}-train`).focus();
        return;
      }
      polling[app] = setTimeout(tick, 300);
    } catch (error) {
      showError(app, error.message);
      done();
    }
  };
  const done = () => {
    clearTimeout(polling[app]);
    polling[app] = null;
  };
  polling[app] = setTimeout(tick, 150);
}
