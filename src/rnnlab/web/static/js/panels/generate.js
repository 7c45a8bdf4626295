// Panel 5: sampling text character by character, and the top-10 next characters on a
// 0–100 % scale, with what top-k / top-p let the sampler draw and the character it drew.
import { getJSON, postJSON, streamLines } from "../api.js";
import { barChart } from "../bars.js";
import { player, speedInAddress } from "../player.js";
import { clear, debounce, el, fmt, pct, showChar, showError } from "../util.js";
import * as choose from "./choose.js";

let ctx;
let root;
let generated = ""; // the last generated continuation
let generatedPrime = ""; // the prime it continues
let position = 0; // characters of `generated` read so far in the step-through
let seed = null; // the seed of the last generation (in the page's address: it can be redone)
let revealing = false; // played: the characters not yet reached are hidden, not dimmed
let ticket = 0;
let controller = null;

const $ = (id) => document.getElementById(id);
speedInAddress("gspeed", "gen-speed");

function temperature() {
  return Number($("temperature").value);
}

export function init(context) {
  ctx = context;
  root = ctx.panel("generate");
  const limits = ctx.state.lab.limits;
  $("prime").maxLength = limits.max_prime;
  $("gen-length").max = limits.max_generate;
  const later = debounce(refresh, 120);
  $("temperature").addEventListener("input", () => {
    showTemperature();
    later();
  });
  $("prime").addEventListener("input", () => {
    generated = "";
    position = 0;
    renderText();
    later();
  });
  $("gen-position").addEventListener("input", () => {
    position = Number($("gen-position").value);
    revealing = false;
    renderText();
    refresh();
  });
  // play reveals the text character by character along the position, the bars following
  player($("gen-player"), {
    what: "the generated text",
    interval: 450,
    stepName: "reveal the next character",
    resetName: "back to the first character",
    start: async () => {
      if (!generated) await generate();
      if (!generated) return false;
      if (position >= generated.length) position = 0;
      revealing = true;
      renderText();
      return true;
    },
    advance: () => moveTo(position + 1),
    step: async () => (generated ? moveTo(position + 1) : generate()),
    reset: () => moveTo(0),
  });
  choose.init(ctx, explained, () => moveTo(position + 1));
  $("generate").addEventListener("click", () => generate());
  $("top-k").addEventListener("change", refresh);
  $("top-p").addEventListener("change", refresh);
  ctx.on("refresh-next", refresh);
  ctx.onModel(fitPrime);
  ctx.on("textmodel", () => {
    generated = "";
    position = 0;
    renderText();
  });
  showTemperature();
}

/** Keep a prime the text model can read: else the start of one of its examples. */
async function fitPrime(state) {
  const known = new Set(state.textModel?.symbols ?? []);
  const prime = $("prime").value;
  if ([...prime].every((c) => known.has(c))) return;
  try {
    const answer = await getJSON(`/api/examples?model=${encodeURIComponent(state.textModel.id)}`);
    const text = answer.examples[0]?.text ?? "";
    $("prime").value = text.split("\n")[0].slice(0, 20);
  } catch {
    $("prime").value = "";
  }
}

function showTemperature() {
  const value = temperature();
  $("temperature-value").textContent = fmt(value, 1);
  const zone = value < 0.6 ? "low" : value <= 1.2 ? "mid" : "high";
  for (const span of root.querySelectorAll("#temperature-guide span")) {
    span.classList.toggle("on", span.dataset.zone === zone);
  }
}

/** Move the step-through to `to` characters read; true while characters are left after it. */
async function moveTo(to) {
  if (!generated || to > generated.length) return false;
  position = to;
  renderText();
  ctx.emit("gen-position", position);
  await refresh();
  return position < generated.length;
}

/** What the five steps explain now: the context, and the character drawn after it. */
function explained() {
  const model = ctx.state.textModel;
  const text = context();
  if (!model || !text) return null;
  const drawn = generated && position < generated.length ? generated[position] : undefined;
  const drawnBy = "It is the character this generation drew here (the highlighted one in the text above).";
  return { model: model.id, text, temperature: temperature(), filters: filters(), drawn, drawnBy };
}

/** The text the next-character distribution is conditioned on. */
function context() {
  return generated ? generatedPrime + generated.slice(0, position) : $("prime").value;
}

/** The sampler's options as the controls say: {top_k, top_p} (absent when "all"). */
function filters() {
  const options = {};
  if ($("top-k").value) options.top_k = Number($("top-k").value);
  if ($("top-p").value) options.top_p = Number($("top-p").value);
  return options;
}

async function refresh() {
  await Promise.all([bars(), choose.update()]);
}

async function bars() {
  const model = ctx.state.textModel;
  if (!model) return;
  const text = context();
  const caption = $("next-caption");
  if (!text) {
    clear($("next-bars"));
    caption.textContent = "Type a prime to see which characters the model expects next.";
    return;
  }
  const mine = ++ticket;
  const t = temperature();
  const chosen = generated && position < generated.length ? generated[position] : undefined;
  const options = filters();
  const body = { model: model.id, text, temperature: t, k: 10, ...options };
  if (chosen !== undefined) body.include = chosen;
  try {
    const answer = await postJSON("/api/next", body);
    if (mine !== ticket) return;
    showError(root, "");
    const filtered = Object.keys(options).length > 0;
    const bars = $("next-bars");
    const entropy = barChart(bars, answer.items, { chosen: answer.chosen, filtered });
    bars.dataset.temperature = String(t);
    bars.dataset.context = String(text.length);
    bars.dataset.drawable = String(answer.drawable);
    bars.dataset.model = model.id;
    caption.textContent = describe(answer, text, t, entropy, filtered);
    root.dataset.ready = "true";
  } catch (error) {
    if (mine === ticket) showError(root, error.message);
  }
}

/** The caption: what the bars show, in words that only name what is on the page. */
function describe(answer, text, t, entropy, filtered) {
  const tail = [...text.slice(-12)].map(showChar).join("");
  const held = answer.items.reduce((sum, item) => sum + item.p, 0);
  let said = `The 10 most likely characters after “…${tail}” at temperature ${fmt(t, 1)}, each bar on the full 0–100 % scale (together they hold ${pct(held)} of the probability).`;
  if (filtered) {
    const rule = [answer.top_k ? `top-k = ${answer.top_k}` : "", answer.top_p ? `top-p = ${answer.top_p}` : ""].filter(Boolean).join(" and ");
    const cut = answer.items.filter((item) => !(item.q > 0)).length;
    said += ` With ${rule} the sampler can draw only ${answer.drawable} of the ${answer.vocab_size} characters` +
      (cut ? `; the ${cut} rows marked “cut” cannot be drawn` : "") +
      `, and it draws the others with the renormalised probabilities of the last column.`;
  }
  const c = answer.chosen;
  if (c) {
    said += ` The row marked “◀ drawn” is the character the sampler actually drew here, '${showChar(c.symbol)}' (rank ${c.rank}, p = ${pct(c.p)})` +
      (c.rank > answer.items.length ? ", shown below the ten because it is not among them." : ".");
  }
  said += ` Spread (entropy) of the ten bars: ${fmt(entropy, 2)} bits — higher temperature, flatter bars.`;
  return said;
}

function renderText() {
  const box = clear($("generated"));
  const slider = $("gen-position");
  slider.max = String(generated.length);
  slider.value = String(position);
  slider.disabled = !generated;
  $("gen-position-label").textContent = generated ? `${position} / ${generated.length}` : "";
  box.classList.toggle("revealing", revealing);
  if (!generated) return;
  box.append(el("span", { class: "prime", text: generatedPrime }));
  [...generated].forEach((c, i) => {
    const cls = "g" + (i === position ? " cursor" : i > position ? " after" : "");
    const span = el("span", { class: cls, dataset: { i } }, c);
    span.addEventListener("click", () => {
      position = i;
      revealing = false;
      renderText();
      refresh();
    });
    box.append(span);
  });
}

/** Sample a continuation; `again` = {seed, n, position} redoes one (from the address). */
export async function generate(again = null) {
  const model = ctx.state.textModel;
  const limits = ctx.state.lab.limits;
  if (again) $("gen-length").value = String(again.n);
  const n = Number($("gen-length").value);
  if (!(Number.isInteger(n) && n >= 1 && n <= limits.max_generate)) {
    showError(root, `characters must be a whole number from 1 to ${limits.max_generate}`);
    return;
  }
  controller?.abort();
  controller = new AbortController();
  seed = again ? again.seed : Math.floor(Math.random() * 2 ** 31);
  const body = { model: model.id, prime: $("prime").value, n, temperature: temperature(), seed, ...filters() };
  generatedPrime = body.prime;
  generated = "";
  position = 0;
  revealing = false;
  const box = clear($("generated"));
  box.append(el("span", { class: "prime", text: generatedPrime }));
  const button = $("generate");
  button.disabled = true;
  root.dataset.generating = "true";
  try {
    await streamLines(
      "/api/generate",
      body,
      (line) => {
        if (line.error) throw new Error(line.error);
        if (line.piece !== undefined) {
          generated += line.piece;
          box.append(el("span", { class: "g" }, line.piece));
          box.scrollTop = box.scrollHeight;
        }
      },
      controller.signal,
    );
    showError(root, "");
  } catch (error) {
    if (error.name !== "AbortError") showError(root, error.message);
  } finally {
    button.disabled = false;
    root.dataset.generating = "false";
  }
  position = again ? Math.max(0, Math.min(again.position, generated.length)) : 0;
  renderText();
  ctx.emit("generated");
  await refresh();
}

/** What the page's address keeps of generation: {seed, n, position} or null. */
export function generation() {
  return generated ? { seed, n: generated.length, position } : null;
}
