// Panel 5's "How a character is chosen": the five steps of generation at the current
// position of the text, with the model's own numbers (POST /api/choose), lit one after
// another by a player; after the fifth, the drawn character is fed back and the next
// position starts at step 1.
import { keepInAddress } from "../address.js";
import { postJSON } from "../api.js";
import { player, speedInAddress } from "../player.js";
import { CELL_NAMES, clear, el, fmt, pct, showChar, showError } from "../util.js";

const STEPS = [
  "Read the current character",
  "Update the hidden state",
  "Score every character",
  "Softmax with temperature",
  "Draw one and feed it back",
];
const ITEMS = 5; // characters listed in steps 3 and 4

let ctx;
let root;
let source; // () → {model, text, temperature, filters, drawn, drawnBy} or null
let next; // async () → boolean: feed the drawn character back (the next position)
let answer = null;
let current = 0; // the lit step, 0–4
let ticket = 0;

const $ = (id) => document.getElementById(id);
speedInAddress("hspeed", "how-speed");
keepInAddress({
  key: "hstep",
  get: () => (current ? String(current + 1) : ""),
  set: (text) => /^[1-5]$/.test(text) && (current = Number(text) - 1),
});

/** The step lit, 0–4 (in the page's address as hstep = 1–5). */
export function howStep() {
  return current;
}

/** from(): what to explain now; feedBack(): move on one character (false: no more). */
export function init(context, from, feedBack) {
  ctx = context;
  root = ctx.panel("generate");
  source = from;
  next = feedBack;
  const list = $("how-steps");
  STEPS.forEach((title, i) => {
    list.append(
      el(
        "li",
        { class: "how-step", dataset: { step: i + 1 } },
        el("span", { class: "how-num", "aria-hidden": "true", text: String(i + 1) }),
        el("div", {}, el("b", { text: title }), el("div", { class: "how-body" })),
      ),
    );
  });
  player($("how-player"), {
    what: "the five steps",
    interval: 1100,
    stepName: "light the next of the five steps",
    resetName: "back to step 1",
    advance: forward,
    reset: async () => light(0),
  });
  light(current, false);
}

async function forward() {
  if (!answer) return false;
  if (current < STEPS.length - 1) {
    light(current + 1);
    return true;
  }
  if (!(await next())) return false; // step 5 done: the next position reads what was drawn
  light(0);
  return true;
}

/** Light step `step` (0–4); `say`: announce it (not when only the numbers changed). */
function light(step, say = true) {
  current = step;
  for (const item of $("how-steps").children) {
    const on = Number(item.dataset.step) === step + 1;
    item.classList.toggle("current", on);
    if (on) item.setAttribute("aria-current", "step");
    else item.removeAttribute("aria-current");
  }
  const box = $("how");
  box.dataset.step = String(step + 1);
  const body = $("how-steps").children[step]?.querySelector(".how-body");
  $("how-now").textContent = say && answer && body ? `Step ${step + 1} of 5, ${STEPS[step].toLowerCase()}: ${body.textContent}` : "";
  ctx.emit("how-step", step);
}

/** Ask for the five steps at the current position and write them out. */
export async function update() {
  const now = source();
  const mine = ++ticket;
  if (!now) {
    answer = null;
    for (const body of $("how-steps").querySelectorAll(".how-body")) clear(body);
    $("how-where").textContent = "Type a prime, or generate, to follow the five steps.";
    $("how").dataset.ready = "false";
    return;
  }
  const body = { model: now.model, text: now.text, temperature: now.temperature, k: ITEMS, ...now.filters };
  if (now.drawn !== undefined) body.drawn = now.drawn;
  try {
    const got = await postJSON("/api/choose", body);
    if (mine !== ticket) return;
    answer = got;
    render(got, now);
    light(current, false);
    $("how").dataset.ready = "true";
    $("how").dataset.context = String(got.text_length);
  } catch (error) {
    if (mine === ticket) showError(root, error.message);
  }
}

function quote(symbol) {
  return `‘${showChar(symbol)}’`;
}

/** A small table lying on its side: a column per item (named in the head row), a row
 * per quantity ([name, ...one value per item]). */
function table(head, rows, label) {
  return el(
    "div",
    { class: "table-wrap how-table", tabindex: "0", role: "region", "aria-label": label },
    el(
      "table",
      { class: "weights" },
      el("thead", {}, el("tr", {}, ...head.map((h, i) => el("th", { scope: "col", class: i ? "" : "corner", text: h })))),
      el("tbody", {}, ...rows.map(([first, ...cells]) => el("tr", {}, el("th", { scope: "row", text: first }), ...cells.map((c) => el("td", { text: c }))))),
    ),
  );
}

function render(a, now) {
  const bodies = [...$("how-steps").querySelectorAll(".how-body")];
  const { read, update: u, score, softmax, draw } = a;
  const t = u.t;
  $("how-where").textContent = `After “…${[...now.text.slice(-12)].map(showChar).join("")}” (character ${t} of the text the model has read), at temperature ${fmt(a.temperature, 1)}.`;
  bodies[0].replaceChildren(
    `${quote(read.symbol)} has index ${read.index} in the model's vocabulary of ${read.vocab_size} characters (counting from 0). `,
    read.encoding === "one-hot"
      ? `The input x${sub(t)} is a one-hot vector: ${read.size - 1} zeros and a 1 at index ${read.index}.`
      : `The input x${sub(t)} is its embedding row, ${read.size} numbers: ${read.values.map((v) => fmt(v, 2)).join(", ")}${read.size > read.values.length ? ", …" : ""} (‖x${sub(t)}‖ = ${fmt(read.norm, 2)}).`,
  );
  const top = u.layers > 1 ? ` (the top one of ${u.layers} layers)` : "";
  const first = t === 1 ? ` The state before the first character is h${sub(0)} = 0.` : "";
  bodies[1].replaceChildren(
    `h${sub(t)} = cell(x${sub(t)}, h${sub(t - 1)}): the ${CELL_NAMES[u.cell] ?? u.cell} mixes the new input into its memory${top}.${first} ‖h${sub(t - 1)}‖ = ${fmt(u.h_prev_norm, 2)} → ‖h${sub(t)}‖ = ${fmt(u.h_norm, 2)} over ${u.hidden_size} units; the units that moved most:`,
    table(
      ["unit", ...u.units.map((x) => String(x.unit))],
      [[`h${sub(t - 1)}`, ...u.units.map((x) => fmt(x.before, 3))], [`h${sub(t)}`, ...u.units.map((x) => fmt(x.after, 3))]],
      "the units of the hidden state that changed most",
    ),
  );
  bodies[2].replaceChildren(
    `The output layer gives every character a score, its logit: ℓ = V h${sub(t)} + c (V and c: the output layer's weight and bias), ${read.vocab_size} scores from ${fmt(score.min, 2)} to ${fmt(score.max, 2)}. The highest:`,
    table(["next", ...score.items.map((x) => quote(x.symbol))], [["logit ℓ", ...score.items.map((x) => fmt(x.logit, 2))]], "the highest logits"),
  );
  const filtered = a.top_k !== null || a.top_p !== null;
  const rule = [a.top_k ? `top-k = ${a.top_k}` : "", a.top_p ? `top-p = ${a.top_p}` : ""].filter(Boolean).join(" and ");
  const rows = [
    [`ℓ / ${fmt(a.temperature, 1)}`, ...score.items.map((x) => fmt(x.scaled, 2))],
    ["p", ...score.items.map((x) => pct(x.p))],
  ];
  if (filtered) rows.push(["drawn with", ...score.items.map((x) => (x.q > 0 ? pct(x.q) : "cut"))]);
  bodies[3].replaceChildren(
    `p = exp(ℓ / T) / Σ exp(ℓ / T) with T = ${fmt(a.temperature, 1)}: dividing by T < 1 sharpens the scores, T > 1 flattens them; the probabilities add up to 1.` +
      (filtered ? ` With ${rule} only ${softmax.drawable} characters can be drawn, their probabilities renormalised (“drawn with”).` : ""),
    table(["next", ...score.items.map((x) => quote(x.symbol))], rows, "the probabilities at this temperature"),
  );
  const how =
    draw.by === "given"
      ? `${now.drawnBy}`
      : `Drawn now with the number u = ${fmt(draw.u, 3)} (seed ${draw.seed}): going through the vocabulary in its own order (not the table's), the first character at which the running total of the probabilities passes u.`;
  const chance = filtered ? `drawn with ${pct(draw.q)}` : `p = ${pct(draw.p)}`;
  bodies[4].replaceChildren(
    el("span", { class: "how-drawn", text: quote(draw.symbol) }),
    ` (rank ${draw.rank}, ${chance}). ${how} It becomes the next input x${sub(t + 1)}, and the five steps begin again.`,
  );
  $("how").dataset.drawn = draw.symbol;
}

function sub(n) {
  const digits = "₀₁₂₃₄₅₆₇₈₉";
  return String(n).replace(/\d/g, (d) => digits[d]);
}
