// Select and match (after LSTMVis, Strobelt et al. 2018): select a span of the text and a
// threshold ℓ; the server finds the units on (h > ℓ) over the whole span and off just
// around it, ranks them, and lists the places of the training text where they all switch
// on together. The span is chosen with the mouse (drag), the keyboard (Shift+arrows in
// the text) or the two number inputs; the units and matches are lists, the values a table.
import { postJSON } from "../api.js";
import { keepInAddress } from "../address.js";
import { diverging } from "../charts.js";
import { tableBehind } from "../tables.js";
import { clear, debounce, el, fmt, showChar, showError, svg } from "../util.js";

let ctx;
let root;
let ticket = 0;
let labels = []; // the text's characters, from the last run
const span = { anchor: 0, caret: 4 }; // 0-based, both ends inclusive; the caret moves
let dragging = false; // a mouse button is down on the text: moving stretches the span
let pressed = false; // a pointer went down on a character: its release asks the server

const $ = (id) => document.getElementById(id);

// the address keeps the span (1-based, both ends), the threshold and the margin
const whole = (text, limits) => /^\d+$/.test(text) && Number(text) >= 1 && Number(text) <= limits.max_text_steps;
keepInAddress(
  { key: "ms", get: () => $("match-start")?.value ?? "", set: (text, limits) => whole(text, limits) && ($("match-start").value = text) },
  { key: "me", get: () => $("match-end")?.value ?? "", set: (text, limits) => whole(text, limits) && ($("match-end").value = text) },
  { key: "thr", get: () => $("match-threshold")?.value ?? "", set: (text) => text !== "" && Math.abs(Number(text)) < 1 && ($("match-threshold").value = text) },
  { key: "mmargin", get: () => $("match-margin")?.value ?? "", set: (text) => ["0", "1", "2", "3"].includes(text) && ($("match-margin").value = text) },
);

export function init(context) {
  ctx = context;
  root = ctx.panel("match");
  const later = debounce(refresh, 250);
  const typed = () => {
    const start = Number($("match-start").value) - 1;
    const end = Number($("match-end").value) - 1;
    if (!Number.isInteger(start) || !Number.isInteger(end)) return;
    Object.assign(span, { anchor: start, caret: end });
    drawText();
    later();
  };
  $("match-start").addEventListener("change", typed);
  $("match-end").addEventListener("change", typed);
  const threshold = $("match-threshold");
  const showThreshold = () => {
    $("match-threshold-value").textContent = fmt(Number(threshold.value), 2);
    threshold.setAttribute("aria-valuetext", `threshold ${fmt(Number(threshold.value), 2)}`);
  };
  threshold.addEventListener("input", () => {
    showThreshold();
    later();
  });
  showThreshold();
  $("match-margin").addEventListener("change", refresh);
  const text = $("match-text");
  text.addEventListener("keydown", (event) => keys(event, later));
  text.addEventListener("pointerdown", (event) => {
    const s = charAt(event);
    if (s === null) return;
    if (event.shiftKey) span.caret = s;
    else Object.assign(span, { anchor: s, caret: s });
    pressed = true;
    dragging = event.pointerType !== "touch"; // a finger scrolls; it taps one character
    drawText();
  });
  text.addEventListener("pointermove", (event) => {
    if (!dragging) return;
    const s = charAt(event);
    if (s !== null && s !== span.caret) {
      span.caret = s;
      drawText();
    }
  });
  text.addEventListener("pointerup", () => {
    if (pressed) refresh();
    pressed = dragging = false;
  });
  text.addEventListener("pointercancel", () => (pressed = dragging = false));
  ctx.on("refresh-gradients", () => {
    fitSpan();
    refresh();
  });
  Object.assign(span, { anchor: Number($("match-start").value) - 1, caret: Number($("match-end").value) - 1 });
}

/** The character under the pointer, or null. */
function charAt(event) {
  const target = document.elementFromPoint(event.clientX, event.clientY);
  const s = target?.closest?.("#match-text [data-s]")?.dataset.s;
  return s === undefined ? null : Number(s);
}

function bounds() {
  return [Math.min(span.anchor, span.caret), Math.max(span.anchor, span.caret)];
}

/** Keep the span inside the text (a new text may be shorter). */
function fitSpan() {
  const run = ctx.state.run;
  if (!run || run.kind !== "text") return;
  const last = run.steps - 1;
  span.anchor = Math.max(0, Math.min(last, span.anchor));
  span.caret = Math.max(0, Math.min(last, span.caret));
}

/** ← → move the caret (a one-character span), Shift+← → stretch the span, Home/End. */
function keys(event, later) {
  const T = labels.length;
  if (!T) return;
  const moves = { ArrowLeft: -1, ArrowRight: 1, Home: -T, End: T };
  if (!(event.key in moves)) return;
  event.preventDefault();
  const caret = Math.max(0, Math.min(T - 1, span.caret + moves[event.key]));
  if (event.shiftKey) span.caret = caret;
  else Object.assign(span, { anchor: caret, caret });
  drawText();
  later();
}

/** The text with the span marked, and the number inputs and the read-out that follow it. */
function drawText() {
  const box = clear($("match-text"));
  const [start, end] = bounds();
  labels.forEach((c, s) => {
    const inside = s >= start && s <= end;
    const classes = ["c", inside ? "in" : "", s === span.caret ? "caret" : ""].filter(Boolean).join(" ");
    box.append(el("span", { class: classes, dataset: { s } }, c === "\n" ? "↵" : c === " " ? "␣" : c));
    if (c === "\n") box.append(el("br"));
  });
  $("match-start").value = String(start + 1);
  $("match-end").value = String(end + 1);
  const chosen = labels.slice(start, end + 1).map(showChar).join("");
  $("match-readout").textContent = labels.length
    ? `Selected: characters ${start + 1} to ${end + 1} of ${labels.length}, “${chosen}”.`
    : "";
  root.dataset.start = String(start);
  root.dataset.end = String(end);
}

async function refresh() {
  const { state } = ctx;
  if (!ctx.inStep()) return;
  const mine = ++ticket;
  const run = state.run;
  if (!run || run.kind !== "text") return explain(run && ctx.isPair(run.kind) ? "an encoder–decoder" : "a numeric task");
  $("match-body").hidden = false;
  $("match-off").hidden = true;
  labels = run.labels;
  fitSpan();
  drawText();
  const [start, end] = bounds();
  const body = {
    model: state.model.id,
    sequence: ctx.sequenceSpec(),
    start,
    end: end + 1,
    threshold: Number($("match-threshold").value),
    layer: state.layer,
    margin: Number($("match-margin").value),
  };
  root.dataset.ready = "false";
  try {
    const answer = await postJSON("/api/match", body);
    if (mine !== ticket) return;
    showError(root, "");
    render(answer);
  } catch (error) {
    if (mine === ticket) showError(root, error.message);
  }
}

function explain(what) {
  $("match-body").hidden = true;
  $("match-off").hidden = false;
  $("match-off").textContent = `Select and match reads text: ${what} is chosen in panel 2. Choose Text there to select a span of characters.`;
  root.dataset.ready = "true";
}

const plural = (n, word) => `${n.toLocaleString("en")} ${word}${n === 1 ? "" : "s"}`;

function render(a) {
  const spanText = [...a.span].map(showChar).join("");
  const layer = a.layers > 1 ? ` of layer ${a.layer + 1} (chosen in panel 4)` : "";
  const rule = `h > ${fmt(a.threshold, 2)} at every character of “${spanText}”` +
    (a.margin ? ` and h ≤ ${fmt(a.threshold, 2)} at the ${a.margin === 1 ? "character" : `${a.margin} characters`} just before and after it` : " (nothing asked of the characters around it)");
  const units = clear($("match-units"));
  units.append(el("p", { class: "muted", text: `The rule: ${rule}.` }));
  if (a.units.length) {
    units.append(el("p", { text: `${plural(a.units.length, "unit")} of the ${a.hidden_size}${layer} ${a.units.length === 1 ? "follows" : "follow"} it, best first (± how far ℓ could move before the unit would no longer qualify):` }));
    const list = el("ol", { class: "chips unit-list", "aria-label": "the units found, best first" });
    for (const u of a.units) list.append(el("li", { class: "chip", dataset: { unit: u.unit }, title: `unit ${u.unit}: margin ${fmt(u.gap, 3)}` }, `unit ${u.unit}`, el("small", { text: ` ±${fmt(u.gap, 3)}` })));
    units.append(list);
  } else {
    let why = `no unit${layer} is above ${fmt(a.threshold, 2)} at every character of the span: lower the threshold or select fewer characters`;
    if (a.on_inside) {
      const around = [a.on_before ? `${a.on_before} already just before it` : "", a.on_after ? `${a.on_after} still just after it` : ""].filter(Boolean).join(" and ");
      why = `${plural(a.on_inside, "unit")} ${a.on_inside === 1 ? "is" : "are"} above it over the whole span, but ${around}: ${a.on_inside === 1 ? "it does" : "they do"} not switch on with the span. Move or stretch the span, change the threshold, or ask less of the characters around it`;
    }
    units.append(el("p", { text: `No unit qualifies: ${why}.` }));
  }
  suggest(a);
  drawMap(a);
  const summary = $("match-summary");
  const list = clear($("match-list"));
  const one = a.units.length === 1;
  const they = one ? `Unit ${a.units[0].unit} is` : `The ${a.units.length} units are all`;
  const where = `in the first ${plural(a.window, "character")} of the training text — ${a.source}`;
  if (!a.units.length) summary.textContent = "With no unit selected there is nothing to look for in the training text.";
  else if (!a.places) summary.textContent = `${they} never on ${one ? "" : "together "}${where}.`;
  else {
    summary.textContent = `${they} on ${one ? "" : "together "}at ${plural(a.places, "place")} ${where}. The best ${a.matches.length}, by the Jaccard score of the units that switch on and off there (1: exactly ${one ? "this unit" : "these units"}):`;
    for (const m of a.matches) {
      const shown = (text) => text.replace(/\n/g, "↵");
      const other = [m.extra ? `${m.extra} other unit${m.extra === 1 ? "" : "s"} switch with them` : "", m.missing ? `${m.missing} of them already on before or after` : ""].filter(Boolean).join(", ");
      list.append(
        el("li", { dataset: { start: m.start, end: m.end, score: m.score } },
          el("span", { class: "score", text: `score ${fmt(m.score, 2)}` }),
          el("span", { class: "snippet mono" }, shown(m.before), ...marked(m.span.map(shown)), shown(m.after)),
          el("span", { class: "muted", text: ` characters ${(m.start + 1).toLocaleString("en")}–${m.end.toLocaleString("en")} (${plural(m.end - m.start, "character")})${other ? "; " + other : ""}` })),
      );
    }
  }
  root.dataset.units = a.units.map((u) => u.unit).join(",");
  root.dataset.places = String(a.places);
  root.dataset.threshold = String(a.threshold);
  root.dataset.ready = "true";
}

/** Buttons for the spans of this text where some units switch on, at this threshold. */
function suggest(a) {
  const box = clear($("match-suggest"));
  if (!a.suggestions.length) {
    box.append(el("p", { class: "muted", text: `At ℓ = ${fmt(a.threshold, 2)} no span of up to 12 characters of this text has a unit that switches on with it; try another threshold.` }));
    return;
  }
  const list = el("div", { class: "chips", role: "group", "aria-label": "spans where units switch on" });
  for (const s of a.suggestions) {
    const text = labels.slice(s.start, s.end).map(showChar).join("");
    const current = s.start === a.start && s.end === a.end;
    list.append(el("button", {
      class: current ? "active" : "",
      "aria-pressed": String(current),
      dataset: { start: s.start, end: s.end },
      text: `“${text}” · ${plural(s.units, "unit")}`,
      onclick: () => {
        Object.assign(span, { anchor: s.start, caret: s.end - 1 });
        drawText();
        refresh();
      },
    }));
  }
  box.append(el("span", { class: "muted", text: `Spans of this text where units switch on at ℓ = ${fmt(a.threshold, 2)}: ` }), list);
}

/** A match's text marked: one piece, or its first and last characters around a cut. */
function marked(pieces) {
  if (pieces.length === 1) return [el("mark", { text: pieces[0] })];
  return [el("mark", { text: pieces[0] }), el("span", { class: "cut", text: " … " }), el("mark", { text: pieces[1] })];
}

/** The shown units' values over the text: a row per unit, a column per character. */
function drawMap(a) {
  const map = $("match-map");
  clear(map);
  const figure = $("match-figure");
  figure.hidden = !a.shown.length;
  if (!a.shown.length) return;
  const T = labels.length;
  const left = 62;
  const top = 20;
  const wrapWidth = $("match-map-wrap").clientWidth || 600;
  const cellW = Math.max(10, Math.min(18, Math.floor((wrapWidth - left - 4) / T)));
  const cellH = 14;
  const width = left + T * cellW + 2;
  const height = top + a.shown.length * cellH + 2;
  map.setAttribute("width", width);
  map.setAttribute("height", height);
  map.setAttribute("viewBox", `0 0 ${width} ${height}`);
  labels.forEach((c, s) => {
    map.append(svg("text", { x: left + (s + 0.5) * cellW, y: top - 6, class: "col", "text-anchor": "middle", text: showChar(c) }));
  });
  a.shown.forEach((unit, k) => {
    map.append(svg("text", { x: left - 6, y: top + (k + 0.5) * cellH + 4, class: "row-label", "text-anchor": "end", text: `unit ${unit}` }));
    a.values[k].forEach((v, s) => {
      const x = left + s * cellW;
      const y = top + k * cellH;
      map.append(svg("rect", { x, y, width: cellW, height: cellH, fill: diverging(v, 1) }, svg("title", { text: `unit ${unit}, character ${s + 1} '${showChar(labels[s])}': h = ${fmt(v, 3)}` })));
      if (v > a.threshold) map.append(svg("circle", { cx: x + cellW / 2, cy: y + cellH / 2, r: 2, class: "on" }));
    });
  });
  map.append(svg("rect", { x: left + a.start * cellW, y: top - 1, width: (a.end - a.start) * cellW, height: a.shown.length * cellH + 2, class: "span-box" }));
  const more = a.units.length > a.shown.length ? ` (the first ${a.shown.length} of ${a.units.length})` : "";
  map.setAttribute("aria-label", `the values of the ${a.shown.length} units found${more} at each of the ${T} characters; a dot marks h above the threshold ${fmt(a.threshold, 2)}; the selected span is outlined; the table below holds the numbers`);
  tableBehind($("match-table-box"), () => ({
    caption: `h of the units found${more} after reading each character (above ${fmt(a.threshold, 2)}: on)`,
    head: ["character", "input", ...a.shown.map((u) => `unit ${u}`)],
    rows: labels.map((c, s) => [s + 1, showChar(c), ...a.values.map((row) => fmt(row[s], 3))]),
  }));
}
