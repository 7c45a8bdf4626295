// Play / pause, step and reset with a speed, as in TensorFlow Playground: one row of
// buttons that drives any animation through a few async callbacks. A step waits for the
// previous one to finish (its requests answered) before the next is scheduled, so
// nothing piles up; playing stops when the page is hidden, or when there is no more.
import { keepInAddress } from "./address.js";
import { el } from "./util.js";

export const SPEEDS = ["0.5", "1", "2", "4"];

/** Keep the speed select `id` in the page's address as `key` (call as the module loads). */
export function speedInAddress(key, id) {
  const select = () => document.getElementById(id);
  keepInAddress({ key, get: () => select()?.value ?? "", set: (text) => SPEEDS.includes(text) && (select().value = text) });
}

/**
 * Make `container` (an element, usually .player) a player. options:
 *   what: what is played, for the buttons' names ("the time steps")
 *   advance: async () → boolean: one step of play; false when nothing is left
 *   step: async () → any: the Step button (default: advance)
 *   reset: async () → any: the Reset button
 *   start: async () → boolean (optional): on Play, before the first step; false: do not play
 *   stop: () → any (optional): on Pause (e.g. ask the server to stop)
 *   interval: ms from one step's start to the next at 1× (0: back to back, no speed control)
 *   stepName, resetName: the Step and Reset buttons' names after "Step: " / "Reset: "
 *   hint: a short line after the buttons saying what they do here (optional)
 * A <select> with data-speed already in the container (kept in the page's address) is
 * the speed control; else one is made when there is an interval.
 * Returns {play, pause, step, reset, playing, idle}; container.dataset.playing follows.
 */
export function player(container, options) {
  const { what, interval = 0 } = options;
  const advance = options.advance;
  const stepOnce = options.step ?? advance;
  let playing = false;
  let timer = null;
  let busy = null; // the step under way (a promise), so that none starts on top of it

  const face = el("span", { "aria-hidden": "true", class: "player-face", text: "▶" });
  const word = el("span", { text: "Play" });
  const playButton = el("button", { type: "button", class: "player-play", "aria-pressed": "false", "aria-label": `Play or pause ${what}` }, face, " ", word);
  const stepButton = el("button", { type: "button", class: "player-step", "aria-label": `Step: ${options.stepName ?? "one step forward"}` }, el("span", { "aria-hidden": "true", text: "▸| " }), "Step");
  const resetButton = el("button", { type: "button", class: "player-reset", "aria-label": `Reset: ${options.resetName ?? "back to the start"}` }, el("span", { "aria-hidden": "true", text: "⟲ " }), "Reset");
  let speed = container.querySelector("select[data-speed]");
  if (!speed && interval) {
    speed = el("select", { "data-speed": "" }, ...SPEEDS.map((s) => el("option", { value: s, text: `${s}×` })));
    speed.value = "1";
    container.append(el("label", { class: "player-speed" }, "Speed ", speed));
  }
  container.prepend(playButton, stepButton, resetButton);
  if (options.hint) container.append(el("span", { class: "muted player-hint", text: options.hint }));
  container.classList.add("player");
  container.setAttribute("role", "group");
  container.setAttribute("aria-label", `Play ${what}`);

  function show() {
    playButton.setAttribute("aria-pressed", String(playing));
    face.textContent = playing ? "❚❚" : "▶";
    word.textContent = playing ? "Pause" : "Play";
    container.dataset.playing = String(playing);
  }

  /** Run `fn` as the one step under way; its result, or false if it failed. */
  async function run(fn) {
    const done = (async () => {
      try {
        return await fn();
      } catch (error) {
        console.warn(error);
        return false;
      }
    })();
    busy = done;
    container.dataset.busy = "true";
    try {
      return await done;
    } finally {
      if (busy === done) {
        busy = null;
        container.dataset.busy = "false";
      }
    }
  }

  async function tick() {
    timer = null;
    if (!playing) return;
    if (document.hidden) return pause();
    const began = performance.now();
    const more = await run(advance);
    if (!playing) return;
    if (!more) return pause();
    const wait = interval / Number(speed?.value ?? 1) - (performance.now() - began);
    timer = setTimeout(tick, Math.max(0, wait));
  }

  async function play() {
    if (playing) return;
    await idle();
    playing = true;
    show();
    if (options.start && !(await run(options.start))) {
      playing = false;
      show();
      return;
    }
    tick();
  }

  function pause() {
    const was = playing;
    playing = false;
    clearTimeout(timer);
    timer = null;
    show();
    if (was) options.stop?.();
  }

  /** Resolves once no step is under way. */
  async function idle() {
    while (busy) await busy;
  }

  async function step() {
    pause();
    await idle();
    await run(stepOnce);
  }

  async function reset() {
    pause();
    await idle();
    await run(options.reset);
  }

  playButton.addEventListener("click", () => (playing ? pause() : play()));
  stepButton.addEventListener("click", step);
  resetButton.addEventListener("click", reset);
  document.addEventListener("visibilitychange", () => document.hidden && pause());
  show();
  return { play, pause, step, reset, idle, playing: () => playing, buttons: { play: playButton, step: stepButton, reset: resetButton } };
}
