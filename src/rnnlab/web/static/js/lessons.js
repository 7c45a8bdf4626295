// The guided path: ?lesson=N opens chapter N of the course material above the lab's own
// panels that make it live (the others are hidden), with a question and its feedback.
// A chapter's links carry its settings, so that each lesson opens the lab as it needs.
import { math } from "./panels/equations.js";
import { CHAPTERS } from "./lessons/chapters.js";
import { clear, el } from "./util.js";

const $ = (id) => document.getElementById(id);

/** The chapter number (1-based) the address asks for, or null for the whole lab. */
export function lessonInAddress() {
  const text = new URLSearchParams(location.search).get("lesson");
  if (!text || !/^\d+$/.test(text)) return null;
  const n = Number(text);
  return n >= 1 && n <= CHAPTERS.length ? n : null;
}

/** The address that opens chapter n with its own settings. */
export function lessonHref(n) {
  const settings = CHAPTERS[n - 1].settings;
  return `${location.pathname}?lesson=${n}${settings ? "&" + settings : ""}`;
}

let current = null;

/** The chapter open now (1-based), or null: address.js keeps it in the address. */
export function currentLesson() {
  return current;
}

/** Build the lessons' navigation, and the lesson the address names (hiding other panels). */
export function init() {
  const list = clear($("lessons-list"));
  CHAPTERS.forEach((chapter, i) => {
    list.append(el("li", {}, el("a", { href: lessonHref(i + 1), dataset: { lesson: String(i + 1) }, text: chapter.title })));
  });
  current = lessonInAddress();
  if (current === null) return;
  const chapter = CHAPTERS[current - 1];
  document.body.dataset.lesson = chapter.id;
  for (const link of list.querySelectorAll("a")) {
    if (Number(link.dataset.lesson) === current) link.setAttribute("aria-current", "page");
  }
  for (const section of document.querySelectorAll("main .panel[data-panel]")) {
    section.hidden = !chapter.panels.includes(section.dataset.panel);
  }
  show(chapter);
}

function show(chapter) {
  const box = $("lesson");
  box.hidden = false;
  $("lesson-count").textContent = `Lesson ${current} of ${CHAPTERS.length}`;
  $("lesson-title").textContent = chapter.title;
  const text = clear($("lesson-text"));
  for (const paragraph of chapter.text) {
    text.append(paragraph.eq ? el("p", { class: "lesson-eq mono" }, math(paragraph.eq)) : el("p", {}, math(paragraph)));
  }
  const tries = clear($("lesson-try"));
  for (const item of chapter.tryIt) tries.append(el("li", {}, math(item)));
  question(chapter.question);
  const prev = $("lesson-prev");
  const next = $("lesson-next");
  prev.hidden = current === 1;
  next.hidden = current === CHAPTERS.length;
  if (current > 1) prev.href = lessonHref(current - 1);
  if (current < CHAPTERS.length) next.href = lessonHref(current + 1);
  $("lesson-leave").href = location.pathname;
}

function question(q) {
  const form = $("lesson-question");
  const legend = clear($("lesson-prompt"));
  legend.append(math(q.prompt));
  const options = clear($("lesson-options"));
  q.options.forEach((option, i) => {
    const id = `lesson-option-${i}`;
    options.append(
      el(
        "div",
        { class: "option" },
        el("input", { type: "radio", name: "lesson-answer", id, value: String(i) }),
        el("label", { for: id }, math(option.text)),
      ),
    );
  });
  const feedback = $("lesson-feedback");
  clear(feedback);
  delete feedback.dataset.verdict;
  form.onsubmit = (event) => {
    event.preventDefault();
    const chosen = form.querySelector("input[name=lesson-answer]:checked");
    clear(feedback);
    if (!chosen) {
      feedback.dataset.verdict = "none";
      feedback.append("Choose an answer first.");
      return;
    }
    const option = q.options[Number(chosen.value)];
    feedback.dataset.verdict = option.right ? "right" : "wrong";
    feedback.append(el("b", { text: option.right ? "✓ Right. " : "✗ Not quite. " }), math(option.right ? option.feedback.replace(/^Right[.:]\s*/, "") : option.feedback));
    if (!option.right) feedback.append(" Try another answer.");
  };
}
