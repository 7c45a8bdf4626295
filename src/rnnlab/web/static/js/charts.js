// Our own small charts: a diverging colour scale, canvas heatmaps, SVG line charts.
import { clear, el, fmt, sci, showChar, superscript, svg } from "./util.js";

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
  const every = Math.max(1, Math.ceil(14 / cellH)); // rows per label: at least 14 px apart
  const labelStride = [1, 2, 4, 5, 8, 10, 16, 20, 32, 50, 64, 100].find((k) => k >= every) ?? every;
  for (let u = 0; u < H; u += labelStride) {
    ctx.fillText(String(u), LEFT - 4, TOP + (u + 0.5) * cellH);
  }
  columnLabels(ctx, T, cellW, labels, selected.t);
  if (opts.header) {
    // the same labels on a strip that stays on top while a tall map scrolls under it
    const head = opts.header;
    head.width = Math.ceil(width * dpr);
    head.height = Math.ceil(TOP * dpr);
    head.style.width = `${width}px`;
    head.style.height = `${TOP}px`;
    const hctx = head.getContext("2d");
    hctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    hctx.fillStyle = "#fff";
    hctx.fillRect(0, 0, width, TOP);
    columnLabels(hctx, T, cellW, labels, selected.t);
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
  const cursor = opts.cursor;
  if (cursor && cursor.t < T && cursor.u < H) {
    // the keyboard's cell: a ring wide enough to see on 4-pixel rows, black and white
    const [x, y] = [LEFT + cursor.t * cellW, TOP + cursor.u * cellH];
    ctx.lineWidth = 3;
    ctx.strokeStyle = "#fff";
    ctx.strokeRect(x - 2, y - 2, cellW + 4, cellH + 4);
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = "#111";
    ctx.strokeRect(x - 2, y - 2, cellW + 4, cellH + 4);
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

/** The decimals that write every multiple of `step` exactly (0.25 → 2, 0.5 → 1, 20 → 0). */
export function tickDigits(step) {
  for (let d = 0; d < 8; d++) {
    const scaled = Math.abs(step) * 10 ** d;
    if (Math.abs(scaled - Math.round(scaled)) < 1e-6 * Math.max(1, scaled)) return d;
  }
  return 8;
}

/** The column labels of a heatmap (its inputs, or t = … when the columns are narrow). */
function columnLabels(ctx, T, cellW, labels, selectedT) {
  ctx.fillStyle = "#5b6380";
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  ctx.font = `${Math.min(12, cellW)}px ui-monospace, monospace`;
  if (cellW >= 9) {
    labels.forEach((label, t) => ctx.fillText(showChar(label).slice(0, 1), LEFT + (t + 0.5) * cellW, TOP / 2));
  } else {
    ctx.font = "10px system-ui, sans-serif";
    const stride = Math.max(1, Math.ceil(40 / cellW)); // a label every 40 px or more
    for (let t = 0; t < T; t += stride) ctx.fillText(`t=${t + 1}`, LEFT + (t + 0.5) * cellW, TOP / 2);
  }
  if (selectedT !== undefined && selectedT < T) {
    ctx.strokeStyle = "#111";
    ctx.lineWidth = 1.5;
    ctx.strokeRect(LEFT + selectedT * cellW + 0.5, 0.75, cellW - 1, TOP);
  }
}

function niceTicks(lo, hi, count = 5) {
  const span = hi - lo || 1;
  const step0 = span / count;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => span / s <= count) ?? mag * 10;
  const ticks = [];
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + 1e-9; k++) ticks.push(+(k * step).toFixed(10));
  ticks.step = step;
  return ticks;
}

/**
 * A line chart in an <svg>. spec: {series: [{label, color, points: [[x, y]], dataset, dash}],
 * logY, xLabel, yLabel, refs: [{y, label}], floor (log scale: smallest value drawn),
 * xRange: [x0, x1] (the x axis's span, when it must not follow the points), valueTicks (log
 * scale spanning under 1.5 decades: ticks at round values, 2.5, 3, 3.5…, not at powers of 10)}.
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
  const zeros = spec.logY && spec.series.some((s) => s.points.some(([, y]) => y === 0));
  const positive = spec.logY ? ys.filter((y) => y > 0) : ys;
  const tf = spec.logY ? (y) => Math.log10(Math.max(y, floor)) : (y) => y;
  let [x0, x1] = spec.xRange ?? [Math.min(...xs), Math.max(...xs)];
  if (x0 === x1) x1 = x0 + 1;
  const shown = positive.length ? positive : [1];
  let [y0, y1] = [Math.min(...shown.map(tf)), Math.max(...shown.map(tf))];
  if (spec.yMin !== undefined) y0 = Math.min(y0, spec.yMin);
  if (y0 === y1) [y0, y1] = [y0 - 1, y1 + 1];
  const values = spec.logY && spec.valueTicks && !zeros && y1 - y0 < 1.5;
  if (spec.logY && !values) [y0, y1] = [Math.floor(y0), Math.max(Math.ceil(y1), Math.floor(y0) + 1)];
  else [y0, y1] = [y0 - 0.05 * (y1 - y0), y1 + 0.05 * (y1 - y0)];
  let yTicks;
  if (values) {
    const round = niceTicks(10 ** y0, 10 ** y1); // placed at their logarithms
    yTicks = round.filter((v) => v > 0).map(Math.log10);
    yTicks.step = round.step;
  } else if (spec.logY) {
    const stride = Math.max(1, Math.ceil((y1 - y0) / 6));
    yTicks = [];
    for (let e = y0; e <= y1; e += stride) yTicks.push(e);
  } else yTicks = niceTicks(y0, y1);
  const yDigits = spec.logY && !values ? 0 : tickDigits(yTicks.step ?? 1);
  const yText = (v) => (values ? fmt(10 ** v, yDigits) : spec.logY ? `10${superscript(v)}` : fmt(v, yDigits));
  // room for the widest tick label beside the axis title (about 6.5 px a character)
  m.l = Math.max(m.l, Math.ceil(28 + 6.5 * Math.max(...yTicks.map((v) => yText(v).length))));
  const px = (x) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const band = zeros ? 30 : 0; // px below the lowest decade for the values that underflowed
  const py = (v) => m.t + (1 - (v - y0) / (y1 - y0)) * (Hh - m.t - m.b - band);
  const zeroY = Hh - m.b - 9;
  const at = (y) => (zeros && y === 0 ? zeroY : py(tf(y)));
  const grid = svg("g", { class: "grid" });
  const axis = svg("g", { class: "axis" });
  for (const v of yTicks) {
    grid.append(svg("line", { x1: m.l, x2: W - m.r, y1: py(v), y2: py(v) }));
    axis.append(svg("text", { x: m.l - 6, y: py(v) + 4, "text-anchor": "end", text: yText(v) }));
  }
  if (zeros) {
    // values that underflowed to exactly 0 have no logarithm: a row of their own below,
    // its label on the side of the plot where fewer of them lie
    const line = Hh - m.b - band + 8;
    grid.append(svg("line", { class: "underflow-line", x1: m.l, x2: W - m.r, y1: line, y2: line }));
    axis.append(svg("text", { class: "underflow-label", x: m.l - 6, y: zeroY + 4, "text-anchor": "end", text: "0" }));
    const zeroXs = spec.series.flatMap((s) => s.points.filter(([, y]) => y === 0).map(([x]) => x));
    const right = zeroXs.filter((x) => x > (x0 + x1) / 2).length <= zeroXs.length / 2;
    const label = spec.zeroLabel ?? "exactly 0 (underflow)";
    const where = right ? { x: W - m.r - 4, "text-anchor": "end" } : { x: m.l + 4, "text-anchor": "start" };
    axis.append(svg("text", { class: "underflow-label", ...where, y: line + 9, text: label }));
  }
  const xTicks = niceTicks(x0, x1, Math.max(2, Math.min(6, Math.floor((W - m.l - m.r) / 48))));
  const xDigits = tickDigits(xTicks.step ?? 1);
  for (const v of xTicks) {
    axis.append(svg("text", { x: px(v), y: Hh - m.b + 16, "text-anchor": "middle", text: fmt(v, xDigits) }));
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
    // a line joins the drawable points; it breaks at an underflow, whose points are crosses
    let d = "";
    let pen = false;
    for (const [x, y] of pts) {
      if (zeros && y === 0) {
        pen = false;
        continue;
      }
      d += `${pen ? "L" : "M"}${px(x).toFixed(1)},${at(y).toFixed(1)}`;
      pen = true;
    }
    const attrs = { class: "series", d, stroke: s.color, "stroke-dasharray": s.dash ?? null };
    const path = svg("path", attrs);
    Object.assign(path.dataset, s.dataset ?? {});
    svgEl.append(path);
    if (s.dots) for (const [x, y] of pts) svgEl.append(svg("circle", { cx: px(x), cy: at(y), r: 2.4, fill: s.color }));
    if (zeros) {
      for (const [x, y] of pts.filter(([, v]) => v === 0)) {
        const [cx, cy] = [px(x), at(y)];
        svgEl.append(svg("path", { class: "underflow", d: `M${cx - 3},${cy - 3}L${cx + 3},${cy + 3}M${cx - 3},${cy + 3}L${cx + 3},${cy - 3}`, stroke: s.color }));
      }
    }
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

/** Black or white, whichever reads better on the rgb() colour (contrast ≥ 4.5 either way). */
export function inkOn(colour) {
  const [r, g, b] = colour.match(/\d+/g).slice(0, 3).map((v) => {
    const c = Number(v) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  const luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  return (luminance + 0.05) / 0.05 >= 1.05 / (luminance + 0.05) ? "#000" : "#fff";
}

export { sci };
