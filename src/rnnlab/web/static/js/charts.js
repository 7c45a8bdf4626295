// Our own small charts: a diverging colour scale, canvas heatmaps, SVG line charts, bars.
import { clear, el, entropyBits, fmt, pct, sci, showChar, superscript, svg } from "./util.js";

// Red (negative) → near-white (zero) → blue (positive), as in ColorBrewer's RdBu.
const STOPS = [
  [-1, [178, 24, 43]],
  [-0.5, [239, 138, 98]],
  [0, [247, 247, 247]],
  [0.5, [103, 169, 207]],
  [1, [33, 102, 172]],
];

/** The colour of `value` on a scale from −max (red) through 0 (white) to +max (blue). */
export function diverging(value, max = 1) {
  const x = Math.max(-1, Math.min(1, (value ?? 0) / (max || 1)));
  for (let i = 1; i < STOPS.length; i++) {
    const [x1, c1] = STOPS[i];
    if (x <= x1) {
      const [x0, c0] = STOPS[i - 1];
      const f = (x - x0) / (x1 - x0);
      const c = c0.map((v, k) => Math.round(v + f * (c1[k] - v)));
      return `rgb(${c[0]},${c[1]},${c[2]})`;
    }
  }
  return "rgb(33,102,172)";
}

/** A colour bar from −max to +max with a caption. */
export function legend(container, max, caption) {
  clear(container).append(
    el("span", { text: fmt(-max, max < 2 ? 1 : 0) }),
    el("span", { class: "bar" }),
    el("span", { text: "+" + fmt(max, max < 2 ? 1 : 0) }),
    el("span", { text: caption }),
  );
}

/** The largest |value| of a matrix (at least `floor`). */
export function maxAbs(matrix, floor = 1e-6) {
  let m = floor;
  for (const row of matrix) for (const v of row) if (v !== null && Math.abs(v) > m) m = Math.abs(v);
  return m;
}

const LEFT = 34;
const TOP = 18;

/**
 * Draw matrix[t][unit] as columns = time, rows = units on a canvas.
 * opts: max, cellW, cellH, labels (per column), selected {t, unit},
 * onHover(t, unit, value, event), onLeave(), onClick(t, unit).
 */
export function drawHeatmap(canvas, matrix, opts) {
  const T = matrix.length;
  const H = T ? matrix[0].length : 0;
  const { cellW, cellH, max = 1, labels = [], selected = {} } = opts;
  const width = LEFT + T * cellW + 2;
  const height = TOP + H * cellH + 2;
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.ceil(width * dpr);
  canvas.height = Math.ceil(height * dpr);
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, width, height);
  for (let t = 0; t < T; t++) {
    for (let u = 0; u < H; u++) {
      ctx.fillStyle = diverging(matrix[t][u], max);
      ctx.fillRect(LEFT + t * cellW, TOP + u * cellH, cellW, cellH);
    }
  }
  ctx.fillStyle = "#5b6380";
  ctx.font = "10px system-ui, sans-serif";
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  const every = Math.max(1, Math.ceil(12 / cellH));
  for (let u = 0; u < H; u += every * Math.ceil(H / (every * 8))) {
    ctx.fillText(String(u), LEFT - 4, TOP + (u + 0.5) * cellH);
  }
  ctx.textAlign = "center";
  ctx.font = `${Math.min(12, cellW)}px ui-monospace, monospace`;
  if (cellW >= 9) {
    labels.forEach((label, t) => ctx.fillText(showChar(label).slice(0, 1), LEFT + (t + 0.5) * cellW, TOP / 2));
  } else {
    ctx.font = "10px system-ui, sans-serif";
    for (let t = 0; t < T; t += Math.ceil(T / 10)) ctx.fillText(`t=${t + 1}`, LEFT + (t + 0.5) * cellW, TOP / 2);
  }
  ctx.strokeStyle = "#111";
  ctx.lineWidth = 1.5;
  if (selected.t !== undefined && selected.t < T) {
    ctx.strokeRect(LEFT + selected.t * cellW + 0.5, TOP - 1, cellW - 1, H * cellH + 2);
  }
  if (selected.unit !== undefined && selected.unit < H) {
    ctx.strokeStyle = "rgba(17,17,17,.6)";
    ctx.strokeRect(LEFT - 1, TOP + selected.unit * cellH + 0.5, T * cellW + 2, Math.max(1, cellH - 1));
  }
  const locate = (event) => {
    const box = canvas.getBoundingClientRect();
    const x = ((event.clientX - box.left) * width) / box.width;
    const y = ((event.clientY - box.top) * height) / box.height;
    const t = Math.floor((x - LEFT) / cellW);
    const u = Math.floor((y - TOP) / cellH);
    return t >= 0 && t < T && u >= 0 && u < H ? [t, u] : null;
  };
  canvas.onmousemove = (event) => {
    const hit = locate(event);
    if (hit) opts.onHover?.(hit[0], hit[1], matrix[hit[0]][hit[1]], event);
    else opts.onLeave?.();
  };
  canvas.onmouseleave = () => opts.onLeave?.();
  canvas.onclick = (event) => {
    const hit = locate(event);
    if (hit) opts.onClick?.(hit[0], hit[1]);
  };
}

function niceTicks(lo, hi, count = 5) {
  const span = hi - lo || 1;
  const step0 = span / count;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => span / s <= count) ?? mag * 10;
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) ticks.push(+v.toFixed(10));
  return ticks;
}

/**
 * A line chart in an <svg>. spec: {series: [{label, color, points: [[x, y]], dataset, dash}],
 * logY, xLabel, yLabel, refs: [{y, label}], floor (log scale: smallest value drawn)}.
 */
export function lineChart(svgEl, spec) {
  const W = svgEl.clientWidth || 600;
  const Hh = svgEl.clientHeight || 220;
  svgEl.setAttribute("viewBox", `0 0 ${W} ${Hh}`);
  clear(svgEl);
  const withLegend = spec.legend !== false && spec.series.length > 1;
  const m = { l: 58, r: 14, t: withLegend ? 28 : 12, b: 34 };
  const floor = spec.floor ?? 1e-30;
  const ys = [];
  const xs = [];
  for (const s of spec.series) for (const [x, y] of s.points) if (y !== null) { xs.push(x); ys.push(y); }
  for (const r of spec.refs ?? []) ys.push(r.y);
  if (!xs.length) {
    svgEl.append(svg("text", { x: W / 2, y: Hh / 2, "text-anchor": "middle", text: spec.empty ?? "no data yet" }));
    return;
  }
  const tf = spec.logY ? (y) => Math.log10(Math.max(y, floor)) : (y) => y;
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  if (x0 === x1) x1 = x0 + 1;
  let [y0, y1] = [Math.min(...ys.map(tf)), Math.max(...ys.map(tf))];
  if (spec.yMin !== undefined) y0 = Math.min(y0, spec.yMin);
  if (y0 === y1) [y0, y1] = [y0 - 1, y1 + 1];
  if (spec.logY) [y0, y1] = [Math.floor(y0), Math.ceil(y1)];
  else [y0, y1] = [y0 - 0.05 * (y1 - y0), y1 + 0.05 * (y1 - y0)];
  const px = (x) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const py = (v) => m.t + (1 - (v - y0) / (y1 - y0)) * (Hh - m.t - m.b);
  const grid = svg("g", { class: "grid" });
  const axis = svg("g", { class: "axis" });
  let yTicks;
  if (spec.logY) {
    const stride = Math.max(1, Math.ceil((y1 - y0) / 6));
    yTicks = [];
    for (let e = y0; e <= y1; e += stride) yTicks.push(e);
  } else yTicks = niceTicks(y0, y1);
  for (const v of yTicks) {
    grid.append(svg("line", { x1: m.l, x2: W - m.r, y1: py(v), y2: py(v) }));
    const label = spec.logY ? `10${superscript(v)}` : fmt(v, Math.abs(y1 - y0) < 5 ? 1 : 0);
    axis.append(svg("text", { x: m.l - 6, y: py(v) + 4, "text-anchor": "end", text: label }));
  }
  for (const v of niceTicks(x0, x1, 6)) {
    axis.append(svg("text", { x: px(v), y: Hh - m.b + 16, "text-anchor": "middle", text: String(v) }));
  }
  axis.append(svg("path", { d: `M${m.l},${m.t}V${Hh - m.b}H${W - m.r}`, fill: "none" }));
  axis.append(svg("text", { x: (m.l + W - m.r) / 2, y: Hh - 4, "text-anchor": "middle", text: spec.xLabel ?? "" }));
  axis.append(
    svg("text", { x: 12, y: (m.t + Hh - m.b) / 2, transform: `rotate(-90 12 ${(m.t + Hh - m.b) / 2})`, "text-anchor": "middle", text: spec.yLabel ?? "" }),
  );
  svgEl.append(grid, axis);
  for (const r of spec.refs ?? []) {
    svgEl.append(
      svg("line", { class: "ref", x1: m.l, x2: W - m.r, y1: py(tf(r.y)), y2: py(tf(r.y)) }),
      svg("text", { x: W - m.r - 4, y: py(tf(r.y)) - 5, "text-anchor": "end", text: r.label }),
    );
  }
  for (const s of spec.series) {
    const pts = s.points.filter(([, y]) => y !== null);
    const d = pts.map(([x, y], i) => `${i ? "L" : "M"}${px(x).toFixed(1)},${py(tf(y)).toFixed(1)}`).join("");
    const attrs = { class: "series", d, stroke: s.color, "stroke-dasharray": s.dash ?? null };
    const path = svg("path", attrs);
    Object.assign(path.dataset, s.dataset ?? {});
    svgEl.append(path);
    if (s.dots) for (const [x, y] of pts) svgEl.append(svg("circle", { cx: px(x), cy: py(tf(y)), r: 2.4, fill: s.color }));
  }
  if (withLegend) {
    let x = m.l;
    for (const s of spec.series) {
      svgEl.append(svg("line", { x1: x, x2: x + 18, y1: 10, y2: 10, stroke: s.color, "stroke-width": 3, "stroke-dasharray": s.dash ?? null }));
      const label = svg("text", { x: x + 22, y: 14, text: s.label });
      svgEl.append(label);
      x += 30 + 7 * s.label.length;
    }
  }
}

/**
 * Horizontal bars for a next-character distribution. items: [{symbol, p}]; `chosen`: the
 * symbol actually taken next (highlighted). The container's data-entropy holds the entropy
 * in bits of the bars shown (renormalised), each bar's data-prob its probability.
 */
export function barChart(container, items, chosen) {
  clear(container);
  const top = Math.max(...items.map((i) => i.p), 1e-9);
  for (const { symbol, p } of items) {
    const row = el(
      "div",
      { class: "bar-row" + (symbol === chosen ? " chosen" : ""), dataset: { symbol, prob: String(p) } },
      el("span", { class: "sym", text: showChar(symbol), title: JSON.stringify(symbol) }),
      el("span", { class: "track" }, el("span", { class: "fill" })),
      el("span", { class: "pct", text: pct(p) }),
    );
    row.querySelector(".fill").style.width = `${(100 * p) / top}%`;
    container.append(row);
  }
  const entropy = entropyBits(items.map((i) => i.p));
  container.dataset.entropy = String(entropy);
  return entropy;
}

export { sci };
