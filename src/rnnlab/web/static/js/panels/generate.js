// Panel 5: sampling text character by character, and the top-10 next characters.
import { getJSON, postJSON, streamLines } from "../api.js";
import { barChart } from "../charts.js";
import { clear, debounce, el, fmt, showChar, showError } from "../util.js";

let ctx;
let root;
let generated = ""; // the last generated continuation
let generatedPrime = ""; // the prime it continues
let position = 0; // characters of `generated` read so far in the step-through
let ticket = 0;
let controller = null;

const $ = (id) => document.getElementById(id);

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
    renderText();
    refresh();
  });
  $("generate").addEventListener("click", generate);
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

/** The text the next-character distribution is conditioned on. */
function context() {
  return generated ? generatedPrime + generated.slice(0, position) : $("prime").value;
}

async function refresh() {
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
  try {
    const answer = await postJSON("/api/next", { model: model.id, text, temperature: t, k: 10 });
    if (mine !== ticket) return;
    showError(root, "");
    const chosen = generated && position < generated.length ? generated[position] : undefined;
    const bars = $("next-bars");
    const entropy = barChart(bars, answer.items, chosen);
    bars.dataset.temperature = String(t);
    bars.dataset.context = String(text.length);
    const tail = [...text.slice(-12)].map(showChar).join("");
    caption.textContent =
      `The 10 most likely characters after “…${tail}” at temperature ${fmt(t, 1)}` +
      (chosen !== undefined ? `; green: the one the sampler actually drew ('${showChar(chosen)}')` : "") +
      `. Spread (entropy) of these bars: ${fmt(entropy, 2)} bits — higher temperature, flatter bars.`;
    root.dataset.ready = "true";
  } catch (error) {
    if (mine === ticket) showError(root, error.message);
  }
}

function renderText() {
  const box = clear($("generated"));
  const slider = $("gen-position");
  slider.max = String(generated.length);
  slider.value = String(position);
  slider.disabled = !generated;
  $("gen-position-label").textContent = generated ? `${position} / ${generated.length}` : "";
  if (!generated) return;
  box.append(el("span", { class: "prime", text: generatedPrime }));
  [...generated].forEach((c, i) => {
    const cls = "g" + (i === position ? " cursor" : i > position ? " after" : "");
    const span = el("span", { class: cls, dataset: { i } }, c);
    span.addEventListener("click", () => {
      position = i;
      renderText();
      refresh();
    });
    box.append(span);
  });
}

async function generate() {
  const model = ctx.state.textModel;
  const limits = ctx.state.lab.limits;
  const n = Number($("gen-length").value);
  if (!(Number.isInteger(n) && n >= 1 && n <= limits.max_generate)) {
    showError(root, `characters must be a whole number from 1 to ${limits.max_generate}`);
    return;
  }
  controller?.abort();
  controller = new AbortController();
  const topK = $("top-k").value;
  const body = { model: model.id, prime: $("prime").value, n, temperature: temperature() };
  if (topK) body.top_k = Number(topK);
  generatedPrime = body.prime;
  generated = "";
  position = 0;
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
  position = 0;
  renderText();
  refresh();
}
