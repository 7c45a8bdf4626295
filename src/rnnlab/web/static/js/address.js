// Every setting of the page in its address (?cell=gru&hidden=32&t=5…): rewritten as the
// user changes things (history.replaceState, no new history entries), read once at start,
// so that a link opens the same view. Only settings that differ from the defaults are
// written; a value that is not valid here is ignored (the default stays).

const $ = (id) => document.getElementById(id);

// [parameter, id of the control whose value it holds]
const CONTROLS = [
  ["prime", "prime"],
  ["temp", "temperature"],
  ["topk", "top-k"],
  ["topp", "top-p"],
  ["n", "gen-length"],
  ["scale", "scale"],
  ["compare", "grad-compare"],
  ["zoom", "heatmap-zoom"],
  ["blr", "bptt-lr"],
  ["bclip", "bptt-clip"],
  ["bcompare", "bptt-compare"],
];
const MAX_CORPUS_IN_ADDRESS = 2000; // a longer typed training text is not put in the link

// parameters a panel keeps itself, registered when its module loads (before the address is
// read): {key, get() → the value as text, set(text, limits) → takes it if valid}
const OWN = [];
export function keepInAddress(...params) {
  OWN.push(...params);
}

let defaults = null; // the parameters of the page as it opens with no address

/** The page's settings as parameters, in a fixed order (all of them, defaults included). */
function current(ctx, extra) {
  const { state } = ctx;
  const c = state.config;
  const s = state.seq;
  const out = [
    ["src", c.source],
    ["cell", c.cell],
    ["hidden", String(c.hidden)],
    ["layers", String(c.layers)],
    ["residual", c.residual ? "1" : "0"],
    ["corpus", c.corpus],
    ["ctext", c.corpus === "text" && c.corpusText.length <= MAX_CORPUS_IN_ADDRESS ? c.corpusText : ""],
    ["att", c.attention],
    ["kind", s.kind],
    ["ex", String(s.example)],
    ["text", s.text ?? ""],
    ["len", String(s.length)],
    ["seed", String(s.seed)],
    ["t", String(state.t + 1)],
    ["unit", state.unitAuto ? "" : String(state.unit)],
    ["layer", String(state.layer + 1)],
  ];
  for (const [key, id] of CONTROLS) out.push([key, $(id)?.value ?? ""]);
  const gen = extra.generation();
  out.push(["gseed", gen ? String(gen.seed) : ""], ["gn", gen ? String(gen.n) : ""], ["gpos", gen ? String(gen.position) : ""]);
  const dec = extra.decodingStep();
  out.push(["dec", dec === null ? "" : String(dec + 1)]);
  const bpos = extra.bpttPosition();
  out.push(["bpos", bpos === null ? "" : String(bpos)]);
  const lesson = extra.lesson();
  out.push(["lesson", lesson === null ? "" : String(lesson)]);
  for (const param of OWN) out.push([param.key, param.get()]);
  const open = [...document.querySelectorAll("details[id]")].filter((d) => d.open).map((d) => d.id);
  out.push(["open", open.join(",")]);
  return out;
}

/** The address for the page as it is now. */
export function addressNow(ctx, extra) {
  const params = new URLSearchParams();
  for (const [key, value] of current(ctx, extra)) {
    if (value !== defaults.get(key)) params.set(key, value);
  }
  const query = params.toString();
  return location.pathname + (query ? `?${query}` : "");
}

/** Write the page's settings into its address (no reload, no history entry). */
export function writeAddress(ctx, extra) {
  const address = addressNow(ctx, extra);
  if (address !== location.pathname + location.search) history.replaceState(null, "", address);
  document.body.dataset.address = location.search;
}

function int(text, lo, hi) {
  if (text === null || !/^\d+$/.test(text)) return null;
  const n = Number(text);
  return Number.isInteger(n) && n >= lo && n <= hi ? n : null;
}

function setSelect(id, value) {
  const select = $(id);
  if ([...select.options].some((o) => o.value === value)) select.value = value;
}

/**
 * Take the settings of the address into the state and the controls (before the panels
 * start); returns what can only be restored once the models exist: {generation, open}.
 */
export function readAddress(ctx, extra) {
  defaults = new Map(current(ctx, extra));
  const { state } = ctx;
  const lab = state.lab;
  const limits = lab.limits;
  const q = new URLSearchParams(location.search);
  const has = (key) => q.has(key) && q.get(key) !== null;
  const c = state.config;
  if (lab.checkpoint && q.get("src") === "builtin") c.source = "builtin";
  if (lab.cells.includes(q.get("cell"))) c.cell = q.get("cell");
  c.hidden = int(q.get("hidden"), 1, limits.max_hidden) ?? c.hidden;
  c.layers = int(q.get("layers"), 1, limits.max_layers) ?? c.layers;
  if (q.get("residual") === "1") c.residual = true;
  if (q.get("corpus") === "text" && (q.get("ctext") ?? "").length >= limits.min_corpus_chars) {
    c.corpus = "text";
    c.corpusText = q.get("ctext");
    $("corpus").value = "text";
    $("corpus-text").value = c.corpusText;
    $("corpus-text").hidden = false;
  }
  if (lab.attention_kinds.includes(q.get("att"))) c.attention = q.get("att");
  const s = state.seq;
  const kinds = ["text", ...Object.keys(lab.tasks), ...Object.keys(lab.pair_tasks)];
  if (kinds.includes(q.get("kind"))) {
    s.kind = q.get("kind");
    if (Object.hasOwn(lab.pair_tasks, s.kind)) s.pairTask = s.kind;
  }
  s.example = int(q.get("ex"), 0, 15) ?? s.example;
  const most = s.kind === "reverse" ? limits.max_reverse_letters : s.kind === "dates" ? limits.max_date_chars : limits.max_text_steps;
  if (has("text") && q.get("text").length >= 2 && q.get("text").length <= most) {
    s.text = q.get("text");
    $("sequence-text").value = s.text;
  }
  s.length = int(q.get("len"), limits.min_numeric_steps, limits.max_numeric_steps) ?? s.length;
  s.seed = int(q.get("seed"), 0, 2 ** 31 - 1) ?? s.seed;
  $("seq-length").value = String(s.length);
  $("seq-seed").value = String(s.seed);
  state.t = (int(q.get("t"), 1, 10 ** 6) ?? state.t + 1) - 1;
  const unit = int(q.get("unit"), 0, limits.max_hidden - 1);
  if (unit !== null) Object.assign(state, { unit, unitAuto: false });
  state.layer = (int(q.get("layer"), 1, limits.max_layers) ?? state.layer + 1) - 1;
  if (has("prime") && q.get("prime").length <= limits.max_prime) $("prime").value = q.get("prime");
  const temp = Number(q.get("temp"));
  if (has("temp") && temp >= 0.1 && temp <= limits.max_temperature) $("temperature").value = q.get("temp");
  for (const [key, id] of [["topk", "top-k"], ["topp", "top-p"], ["compare", "grad-compare"], ["zoom", "heatmap-zoom"], ["blr", "bptt-lr"], ["bclip", "bptt-clip"], ["bcompare", "bptt-compare"]]) {
    if (has(key)) setSelect(id, q.get(key));
  }
  for (const param of OWN) if (has(param.key)) param.set(q.get(param.key), limits);
  const n = int(q.get("n"), 1, limits.max_generate);
  if (n !== null) $("gen-length").value = String(n);
  const scale = Number(q.get("scale"));
  if (has("scale") && scale >= 0 && scale <= 1) $("scale").value = q.get("scale");
  const after = { generation: null, dec: null, bpos: int(q.get("bpos"), 0, limits.max_text_steps), open: (q.get("open") ?? "").split(",").filter(Boolean) };
  const gseed = int(q.get("gseed"), 0, 2 ** 31 - 1);
  const gn = int(q.get("gn"), 1, limits.max_generate);
  if (gseed !== null && gn !== null) after.generation = { seed: gseed, n: gn, position: int(q.get("gpos"), 0, gn) ?? 0 };
  const dec = int(q.get("dec"), 1, limits.max_decode_steps);
  if (dec !== null) after.dec = dec - 1;
  return after;
}

/** Open the toggles the address names (those that exist once the panels have drawn). */
export function openToggles(ids) {
  for (const id of ids) {
    const details = document.getElementById(id);
    if (details?.tagName === "DETAILS") details.open = true;
  }
}
