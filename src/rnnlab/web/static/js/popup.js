// The page's one floating popup (#tooltip): opened by hovering or tapping a step or a
// heatmap cell; closed when the pointer leaves its owner, on a tap elsewhere, on Escape
// and on scrolling (on a phone a step's popup must not float over later panels).

let owner = null; // the element whose popup is shown
let pointer = { x: -1, y: -1, type: "mouse" }; // the last pointer seen

const box = () => document.getElementById("tooltip");

/** Show `children` in the popup for `from`, next to the pointer event `event`. */
export function showPopup(from, event, ...children) {
  owner = from;
  const tip = box();
  tip.replaceChildren(...children);
  tip.hidden = false;
  movePopup(event);
}

/** Keep the popup next to the pointer, inside the window. */
export function movePopup(event) {
  const tip = box();
  if (tip.hidden) return;
  const x = Math.max(8, Math.min(event.clientX + 14, window.innerWidth - tip.offsetWidth - 8));
  let y = event.clientY + 16;
  if (y + tip.offsetHeight > window.innerHeight - 8) y = Math.max(8, event.clientY - tip.offsetHeight - 12);
  tip.style.left = `${x}px`;
  tip.style.top = `${y}px`;
}

export function hidePopup() {
  owner = null;
  const tip = box();
  if (tip) tip.hidden = true;
}

/** True while the popup is shown for `element`. */
export function popupOf(element) {
  return owner === element && !box().hidden;
}

/** Once, at start: the ways a popup closes besides its owner's mouseleave. */
export function installPopupClosers() {
  const track = (event) => {
    pointer = { x: event.clientX, y: event.clientY, type: event.pointerType || "mouse" };
  };
  document.addEventListener("pointermove", track, { capture: true, passive: true });
  document.addEventListener(
    "pointerdown",
    (event) => {
      track(event);
      if (owner && !owner.contains(event.target)) hidePopup();
    },
    { capture: true },
  );
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") hidePopup();
  });
  // a scroll moves the page under a fixed popup: close it, unless a mouse still rests on
  // its owner (the wheel scrolled a box the pointer is not over)
  const scrolled = () => {
    if (!owner) return;
    const under = pointer.type === "mouse" ? document.elementFromPoint(pointer.x, pointer.y) : null;
    if (!under || !owner.contains(under)) hidePopup();
  };
  window.addEventListener("scroll", scrolled, { capture: true, passive: true });
  window.addEventListener("resize", hidePopup);
}
