// What each trained application model says (panel "Applications"): the forecast with
// its naive baselines and errors, the genre probabilities of a passage, the likeliest
// next words. Probabilities are bars on an absolute 0–100 % scale; every chart has its
// numbers in a table behind a toggle.
import { postJSON } from "../api.js";
import { lineChart } from "../charts.js";
import { tableBehind } from "../tables.js";
import { CELL_NAMES, clear, debounce, el, fmt, pct } from "../util.js";
import { bars } from "./app-bars.js";

let env; // {settings, root, show(app, message), trained(app) → the model's status}
let forecastShown = null; // the last forecast view, drawn again when its tab shows
const tickets = { forecast: 0, classify: 0, complete: 0 };
const $ = (id) => document.getElementById(id);

export function init(environment) {
  env = environment;
  const { settings } = env;
  $("fc-horizon").addEventListener("change", () => {
    settings.forecast.horizon = Number($("fc-horizon").value);
    forecast();
  });
  const later = debounce(forecast, 80);
  $("fc-start").addEventListener("input", () => {
    settings.forecast.start = Number($("fc-start").value);
    later();
  });
  const classifyLater = debounce(classify, 300);
  $("cl-text").addEventListener("input", () => {
    settings.classify.text = $("cl-text").value;
    classifyLater();
  });
  $("cl-go").addEventListener("click", () => {
    settings.classify.text = $("cl-text").value;
    classify();
  });
  const nextLater = debounce(nextWords, 250);
  $("wc-text").addEventListener("input", () => {
    settings.complete.text = $("wc-text").value;
    nextLater();
  });
}

/** The tab of `app` has just been shown. */
export function shown(app) {
  if (app === "forecast" && forecastShown) drawForecast(forecastShown);
}

/** Draw what the trained model of `app` (its status `s`) says. */
export function draw(app, s) {
  if (app === "forecast") forecast();
  if (app === "classify") {
    score(s.summary);
    examples(s.summary);
    classify();
  }
  if (app === "complete") {
    perplexity(s.summary);
    nextWords();
  }
}

/** Ask `path` about the trained model of `app`; the answer, or null if a newer question was asked. */
async function ask(app, path, body) {
  const model = env.trained(app);
  if (!model?.trained) return null;
  const pane = $(`app-${app}`);
  const mine = ++tickets[app];
  pane.dataset.ready = "false";
  try {
    const answer = await postJSON(path, { model: model.id, ...body });
    if (mine !== tickets[app]) return null;
    env.show(app, "");
    return answer;
  } catch (error) {
    if (mine === tickets[app]) env.show(app, error.message);
    return null;
  }
}

function ready(app) {
  $(`app-${app}`).dataset.ready = "true";
}

// ----------------------------------------------------------------------------- forecast

const LINES = [
  ["history", "history", "#5b6380", null],
  ["truth", "truth (not seen)", "#1c7c56", "5 3"],
  ["network", "network", "#4f46e5", null],
  ["last_value", "last value", "#c2410c", "2 3"],
  ["seasonal", "seasonal naive", "#8a5a00", "9 3"],
];

async function forecast() {
  const { settings } = env;
  const s = env.trained("forecast");
  if (!s?.trained) return;
  const test = s.summary.test_points;
  const horizon = Math.min(settings.forecast.horizon, test);
  const slider = $("fc-start");
  slider.max = String(test - horizon);
  settings.forecast.start = Math.min(settings.forecast.start, test - horizon);
  slider.value = String(settings.forecast.start);
  const view = await ask("forecast", "/api/apps/forecast/view", { horizon, start: settings.forecast.start });
  if (!view) return;
  forecastShown = { ...view, cell: s.settings.cell };
  drawForecast(forecastShown);
  ready("forecast");
}

/** A time point as the series names it: "year 1947", "t = 480". */
function when(s, x) {
  return s.x_name === "year" ? `year ${x}` : `t = ${x}`;
}

function drawForecast(v) {
  const s = v.summary;
  const x0 = v.history_x.at(-1);
  const y0 = v.history.at(-1);
  const after = (ys) => [[x0, y0], ...v.x.map((x, k) => [x, ys[k]])]; // joined to the history
  const points = {
    history: v.history_x.map((x, k) => [x, v.history[k]]),
    truth: after(v.truth),
    network: after(v.forecasts.network),
    last_value: after(v.forecasts.last_value),
    seasonal: after(v.forecasts.seasonal),
  };
  const label = (key, text) => (key === "network" ? networkName(v) : key === "seasonal" ? `${text}, s = ${v.season}` : text);
  const series = LINES.map(([key, text, color, dash]) => ({ label: label(key, text), color, dash, points: points[key], dataset: { line: key } }));
  const chart = $("fc-chart");
  lineChart(chart, { series, legend: false, xLabel: s.x_label, yLabel: "value" });
  const from = v.x[0];
  chart.setAttribute("aria-label", `${s.series}: ${v.history.length} values of history, then the forecasts of the next ${v.horizon} from ${when(s, from)} by the network, the last value and the seasonal naive forecast, with the truth; the tables below hold the numbers`);
  clear($("fc-legend")).append(
    ...series.map((line) => el("li", {}, el("span", { class: `swatch${line.dash ? " dashed" : ""}`, style: `border-top-color:${line.color}` }), line.label)),
  );
  $("fc-start-label").textContent = `${when(s, from)} (test value ${v.start + 1} of ${s.test_points})`;
  $("fc-caption").textContent =
    `${s.description}: ${s.values} values, the first ${s.train_points} train the network (windows of ${s.window}). ` +
    `From ${when(s, from)} on, each forecast is fed back as the newest input: ${v.horizon} values ahead, nothing after ${when(s, x0)} is seen.`;
  tableBehind($("fc-table-box"), () => ({
    caption: `the history, then each forecast value and the truth`,
    head: [s.x_label, "value (history / truth)", "network", "last value", `seasonal naive (s = ${v.season})`],
    rows: [
      ...v.history_x.map((x, k) => [x, fmt(v.history[k], 3), "—", "—", "—"]),
      ...v.x.map((x, k) => [x, fmt(v.truth[k], 3), fmt(v.forecasts.network[k], 3), fmt(v.forecasts.last_value[k], 3), fmt(v.forecasts.seasonal[k], 3)]),
    ],
  }));
  errorTable(v);
}

function errorTable(v) {
  const names = { network: networkName(v), last_value: "last value", seasonal: `seasonal naive, s = ${v.season}` };
  const table = clear($("fc-errors"));
  table.append(
    el("caption", { text: `errors of the forecasts (lower is better)` }),
    el("thead", {}, el("tr", {}, ...["forecast", `MAE, these ${v.horizon}`, `RMSE, these ${v.horizon}`, `MAE, all ${v.origins} origins`].map((h) => el("th", { scope: "col", text: h })))),
    el(
      "tbody",
      {},
      ...Object.keys(names).map((key) =>
        el("tr", { dataset: { line: key } }, el("th", { scope: "row", text: names[key] }), el("td", { text: fmt(v.errors[key].mae, 3) }), el("td", { text: fmt(v.errors[key].rmse, 3) }), el("td", { text: fmt(v.pooled[key].mae, 3) })),
      ),
    ),
  );
  const net = v.pooled.network.mae;
  const [bestKey, best] = ["last_value", "seasonal"].map((k) => [k, v.pooled[k].mae]).sort((a, b) => a[1] - b[1])[0];
  const verdict =
    net < best
      ? `${fmt(best / net, 1)}× lower than the better naive forecast (${names[bestKey]}, ${fmt(best, 3)})`
      : `not lower than that of the better naive forecast (${names[bestKey]}: ${fmt(best, 3)}); train longer, or try another cell or window`;
  const s = v.summary;
  $("fc-verdict").textContent =
    `Over all ${v.origins} forecasts of ${v.horizon} values made from the test part, the network's mean absolute error is ${fmt(net, 3)}, ${verdict}. ` +
    `One step ahead (rnnlab forecast's own measure) its NRMSE is ${fmt(s.nrmse, 3)}, persistence's ${fmt(s.persistence_nrmse, 3)}.`;
}

function networkName(v) {
  return `network (${CELL_NAMES[v.cell] ?? v.cell})`;
}

// ----------------------------------------------------------------------------- classify

function score(summary) {
  const majority = `always “${summary.majority_label}”`;
  bars(
    $("cl-score"),
    [
      { name: "network", p: summary.accuracy, said: "the network's held-out accuracy" },
      { name: "majority class", p: summary.majority_rate, said: `the majority class's rate (${majority})` },
    ],
    "held-out",
    "rate right",
  );
  const right = summary.plays.filter((play) => play.vote === play.genre).length;
  const gain = 100 * (summary.accuracy - summary.majority_rate);
  $("cl-score-text").textContent =
    `On ${summary.test_passages.toLocaleString("en")} passages of ${summary.plays.length} plays it never read, the network is right ${pct(summary.accuracy)} of the time; ` +
    `always answering the most frequent genre, ${summary.majority_label}, is right ${pct(summary.majority_rate)} (${gain >= 0 ? "+" : "−"}${fmt(Math.abs(gain), 1)} points). ` +
    `Whole plays, by the vote of their passages: ${right} of ${summary.plays.length} right.`;
  const box = $("cl-confusion-box");
  tableBehind(box, () => ({
    caption: "held-out passages: rows the true genre, columns the network's answer",
    head: ["true \\ predicted", ...summary.labels],
    rows: summary.labels.map((label, i) => [label, ...summary.confusion[i]]),
  }));
  let plays = box.querySelector(".app-plays");
  if (!plays) {
    // the table's place first (tableBehind fills the .table-wrap it finds), the plays after it
    if (!box.querySelector(".table-wrap")) box.append(el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "table: the confusion matrix" }));
    box.append((plays = el("ul", { class: "app-plays", "aria-label": "the unseen plays, by the vote of their passages" })));
  }
  clear(plays).append(...summary.plays.map((play) => el("li", { text: `${play.play} (${play.genre}): voted ${play.vote}${play.vote === play.genre ? " ✓" : " ✗"}` })));
}

function examples(summary) {
  const box = clear($("cl-examples"));
  for (const example of summary.examples) {
    const button = el(
      "button",
      { class: "example", type: "button", dataset: { index: example.index, text: example.text } },
      el("span", { class: "title", text: `${example.play} (${example.genre})` }),
      el("span", { class: "text", text: example.text.replace(/\n/g, " / ") }),
    );
    button.addEventListener("click", () => {
      env.settings.classify.text = example.text;
      $("cl-text").value = example.text;
      classify();
    });
    box.append(button);
  }
  if (!env.settings.classify.text && summary.examples.length) {
    env.settings.classify.text = summary.examples[0].text;
    $("cl-text").value = summary.examples[0].text;
  }
}

async function classify() {
  const text = env.settings.classify.text;
  for (const button of document.querySelectorAll("#cl-examples .example")) {
    button.classList.toggle("active", button.dataset.text === text);
  }
  if (!text.trim()) return;
  const answer = await ask("classify", "/api/apps/classify/text", { text });
  if (!answer) return;
  bars($("cl-bars"), answer.classes.map((c) => ({ name: c.label, p: c.p })), "genre");
  const unknown = answer.unknown ? `, ${answer.unknown} of them outside its vocabulary (read as <unk>)` : "";
  $("cl-caption").textContent = `p(genre | passage): the network read ${answer.read} of the ${answer.words} words${unknown}. Its answer: ${answer.predicted}.`;
  tableBehind($("cl-table-box"), () => ({
    caption: "each genre's probability for this passage",
    head: ["genre", "probability"],
    rows: answer.classes.map((c) => [c.label, fmt(c.p, 4)]),
  }));
  ready("classify");
}

// ----------------------------------------------------------------------------- complete

function perplexity(summary) {
  const better = summary.perplexity < summary.unigram_perplexity;
  $("wc-score").textContent =
    `Validation perplexity ${fmt(summary.perplexity, 1)} against ${fmt(summary.unigram_perplexity, 1)} for the unigram model, on ${summary.val_tokens.toLocaleString("en")} held-out tokens (lower is better: perplexity is how many words it hesitates between). ` +
    (better
      ? `The network has learned more than how often each word occurs.`
      : `The network has not yet learned more than how often each word occurs: train longer.`) +
    ` ${pct(summary.unk_rate)} of the held-out tokens are <unk>.`;
}

const shownWord = (word) => (word === "\n" ? "↵" : word);
const saidWord = (word) => (word === "\n" ? "a line break" : word === "<unk>" ? "<unk>, any rarer word" : word);

async function nextWords(focusFirst = false) {
  const text = env.settings.complete.text;
  if (!text.trim()) {
    clear($("wc-bars"));
    $("wc-caption").textContent = "Type the start of a line to see which words the model expects next.";
    return;
  }
  const answer = await ask("complete", "/api/apps/complete/next", { text, k: 10 });
  if (!answer) return;
  const append = (join) => () => {
    const next = answer.prompt + join;
    env.settings.complete.text = next;
    $("wc-text").value = next;
    nextWords(true);
  };
  const rows = answer.items.map((item) => ({
    name: shownWord(item.word),
    p: item.p,
    said: saidWord(item.word),
    pick: item.join === null ? null : append(item.join),
    muted: item.join === null,
  }));
  bars($("wc-bars"), rows, "next word");
  const total = answer.items.reduce((sum, item) => sum + item.p, 0);
  const unknown = answer.unknown ? ` (${answer.unknown} of its ${answer.tokens} tokens unknown: <unk>)` : "";
  $("wc-caption").textContent =
    `The ${answer.items.length} likeliest next words after “${answer.prompt}”${unknown}, together ${pct(total)}. ` +
    `Click a word, or Tab to it and press Enter, to append it; <unk> stands for every rarer word and cannot be appended.`;
  $("wc-greedy").textContent = `Always taking the likeliest word: “${(answer.prompt + answer.greedy).replace(/\n/g, " / ")}”`;
  tableBehind($("wc-table-box"), () => ({
    caption: "the likeliest next words and their probabilities",
    head: ["rank", "word", "probability"],
    rows: answer.items.map((item) => [item.rank, item.word === "\n" ? "(line break)" : item.word, fmt(item.p, 4)]),
  }));
  if (focusFirst) $("wc-bars").querySelector("button.pick")?.focus();
  ready("complete");
}
