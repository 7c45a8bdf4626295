// Panel 8: the cell's equations, each followed by the same equation with this step's numbers.
import { CELL_NAMES, charInputs, clear, el, fmt, pct, showChar, term } from "../util.js";

let ctx;
let root;

const SIGMA = "σ";

/** Text with _{...} turned into subscripts, built as DOM nodes (never as HTML). */
export function math(text) {
  const out = document.createDocumentFragment();
  const parts = text.split(/(_\{[^}]*\}|\^\{[^}]*\})/);
  for (const part of parts) {
    if (part.startsWith("_{")) out.append(el("sub", { text: part.slice(2, -1) }));
    else if (part.startsWith("^{")) out.append(el("sup", { text: part.slice(2, -1) }));
    else if (part) out.append(document.createTextNode(part));
  }
  return out;
}

// The peephole LSTM's gates also see the cell state: i and f c_{t−1}, o the new c_t.
const PEEPHOLES = { i: ["weight_ci", "c_prev"], f: ["weight_cf", "c_prev"], o: ["weight_co", "c_t"] };

/** [weight, cell value] of gate's peephole term at step t, or null. */
function peephole(run, gate, t) {
  if (run.cell !== "lstm_peephole" || !(gate in PEEPHOLES)) return null;
  const [weight, state] = PEEPHOLES[gate];
  return [run.terms.own[weight][0], run.terms[state][t]];
}

// A layer-normalised cell's gates add the two normalised projections, each with its
// gain and bias: [γ_ih, û, β_ih, γ_hh, v̂, β_hh] of a gate at step t, or null.
function normalised(run, gate, t) {
  if (!run.cell.endsWith("_layer_norm")) return null;
  const k = run.terms.gates.indexOf(gate);
  const { own, kept } = run.terms;
  return [
    own.layernorm_ih_weight[k], kept.x_hat[k][t], own.layernorm_ih_bias[k],
    own.layernorm_hh_weight[k], kept.h_hat[k][t], own.layernorm_hh_bias[k],
  ];
}

function pre(run, gate, t) {
  const terms = run.terms;
  const norm = normalised(run, gate, t);
  if (norm) return norm[0] * norm[1] + norm[2] + norm[3] * norm[4] + norm[5];
  const peep = peephole(run, gate, t);
  const a = terms.x[gate][t] + terms.b_ih[gate] + terms.h[gate][t] + terms.b_hh[gate];
  return peep ? a + peep[0] * peep[1] : a;
}

function sum(run, gate, t) {
  const terms = run.terms;
  const norm = normalised(run, gate, t);
  if (norm) {
    return `${fmt(norm[0])} × ${term(norm[1])} + ${term(norm[2])} + ${fmt(norm[3])} × ${term(norm[4])} + ${term(norm[5])}`;
  }
  const peep = peephole(run, gate, t);
  const text = `${fmt(terms.x[gate][t])} + ${term(terms.b_ih[gate])} + ${term(terms.h[gate][t])} + ${term(terms.b_hh[gate])}`;
  return peep ? `${text} + ${fmt(peep[0])} × ${term(peep[1])}` : text;
}

const GATES = {
  lstm: {
    i: ["input gate", SIGMA, "i_{t} = σ(W_{ii} x_{t} + b_{ii} + W_{hi} h_{t−1} + b_{hi})"],
    f: ["forget gate", SIGMA, "f_{t} = σ(W_{if} x_{t} + b_{if} + W_{hf} h_{t−1} + b_{hf})"],
    g: ["candidate", "tanh", "g_{t} = tanh(W_{ig} x_{t} + b_{ig} + W_{hg} h_{t−1} + b_{hg})"],
    o: ["output gate", SIGMA, "o_{t} = σ(W_{io} x_{t} + b_{io} + W_{ho} h_{t−1} + b_{ho})"],
  },
  lstm_peephole: {
    i: ["input gate", SIGMA, "i_{t} = σ(W_{ii} x_{t} + b_{ii} + W_{hi} h_{t−1} + b_{hi} + w_{ci} ⊙ c_{t−1})"],
    f: ["forget gate", SIGMA, "f_{t} = σ(W_{if} x_{t} + b_{if} + W_{hf} h_{t−1} + b_{hf} + w_{cf} ⊙ c_{t−1})"],
    g: ["candidate", "tanh", "g_{t} = tanh(W_{ig} x_{t} + b_{ig} + W_{hg} h_{t−1} + b_{hg})"],
    o: ["output gate", SIGMA, "o_{t} = σ(W_{io} x_{t} + b_{io} + W_{ho} h_{t−1} + b_{ho} + w_{co} ⊙ c_{t})"],
  },
  lstm_layer_norm: {
    i: ["input gate", SIGMA, "i_{t} = σ(γ_{ii} ⊙ LN(W_{ii} x_{t} + b_{ii}) + β_{ii} + γ_{hi} ⊙ LN(W_{hi} h_{t−1} + b_{hi}) + β_{hi})"],
    f: ["forget gate", SIGMA, "f_{t} = σ(γ_{if} ⊙ LN(W_{if} x_{t} + b_{if}) + β_{if} + γ_{hf} ⊙ LN(W_{hf} h_{t−1} + b_{hf}) + β_{hf})"],
    g: ["candidate", "tanh", "g_{t} = tanh(γ_{ig} ⊙ LN(W_{ig} x_{t} + b_{ig}) + β_{ig} + γ_{hg} ⊙ LN(W_{hg} h_{t−1} + b_{hg}) + β_{hg})"],
    o: ["output gate", SIGMA, "o_{t} = σ(γ_{io} ⊙ LN(W_{io} x_{t} + b_{io}) + β_{io} + γ_{ho} ⊙ LN(W_{ho} h_{t−1} + b_{ho}) + β_{ho})"],
  },
  gru_layer_norm: {
    r: ["reset gate", SIGMA, "r_{t} = σ(γ_{ir} ⊙ LN(W_{ir} x_{t} + b_{ir}) + β_{ir} + γ_{hr} ⊙ LN(W_{hr} h_{t−1} + b_{hr}) + β_{hr})"],
    z: ["update gate", SIGMA, "z_{t} = σ(γ_{iz} ⊙ LN(W_{iz} x_{t} + b_{iz}) + β_{iz} + γ_{hz} ⊙ LN(W_{hz} h_{t−1} + b_{hz}) + β_{hz})"],
  },
  gru_reset_before: {
    r: ["reset gate", SIGMA, "r_{t} = σ(W_{ir} x_{t} + b_{ir} + W_{hr} h_{t−1} + b_{hr})"],
    z: ["update gate", SIGMA, "z_{t} = σ(W_{iz} x_{t} + b_{iz} + W_{hz} h_{t−1} + b_{hz})"],
  },
  gru: {
    r: ["reset gate", SIGMA, "r_{t} = σ(W_{ir} x_{t} + b_{ir} + W_{hr} h_{t−1} + b_{hr})"],
    z: ["update gate", SIGMA, "z_{t} = σ(W_{iz} x_{t} + b_{iz} + W_{hz} h_{t−1} + b_{hz})"],
  },
};

/** The gates' [name, activation, general form]: the page's words for the cells it knows,
 * the common form σ(W_i x + b_i + W_h h + b_h) for any other registered cell. */
function gateTable(run) {
  if (GATES[run.cell]) return GATES[run.cell];
  const act = (g) => (run.terms.activations[g] === "sigmoid" ? SIGMA : run.terms.activations[g]);
  return Object.fromEntries(
    run.terms.gates.map((g) => [
      g,
      [`gate ${g}`, act(g), `${g}_{t} = ${act(g)}(W_{i${g}} x_{t} + b_{i${g}} + W_{h${g}} h_{t−1} + b_{h${g}})`],
    ]),
  );
}

/** [{general, live, note, key}] for step t of a run, for unit run.unit. */
export function stepEquations(run, t) {
  const T = run.terms;
  const j = run.unit;
  const at = `[${j}]`;
  const lines = [];
  if (run.cell.startsWith("indrnn")) {
    const act = run.terms.activations.h;
    const u = T.own.weight_hh_diag[0];
    const a = T.x.a[t] + T.b_ih.a + u * T.h_prev[t];
    lines.push({
      general: `h_{t} = ${act}(W_{ih} x_{t} + b_{ih} + u ⊙ h_{t−1})`,
      live: `h_{${t + 1}}${at} = ${act}(${fmt(T.x.a[t])} + ${term(T.b_ih.a)} + ${fmt(u)} × ${term(T.h_prev[t])}) = ${act}(${fmt(a)}) = ${fmt(T.h_t[t])}`,
      note: "u is a vector, not a matrix: unit j sees only its own previous value; the units meet in the next layer",
      key: true,
    });
  } else if (run.cell.startsWith("rnn")) {
    const act = run.cell === "rnn_tanh" ? "tanh" : "relu";
    const a = pre(run, "a", t);
    lines.push({
      general: `h_{t} = ${act}(W_{ih} x_{t} + b_{ih} + W_{hh} h_{t−1} + b_{hh})`,
      live: `h_{${t + 1}}${at} = ${act}(${sum(run, "a", t)}) = ${act}(${fmt(a)}) = ${fmt(T.h_t[t])}`,
      key: true,
    });
    lines.push({
      general: `h_{t} = f(U x_{t} + W h_{t−1} + b)`,
      live: `h_{${t + 1}}${at} = ${act}(${fmt(T.x.a[t])} + ${term(T.h.a[t])} + ${term(T.b_ih.a + T.b_hh.a)}) = ${fmt(T.h_t[t])}`,
      note: `the same equation in the course's notation: U = W_{ih} reads the input, W = W_{hh} carries the memory h_{t−1}, b = b_{ih} + b_{hh}, f = ${act}`,
      material: true,
    });
  } else {
    for (const [gate, [name, act, general]] of Object.entries(gateTable(run))) {
      lines.push({
        general,
        live: `${gate}_{${t + 1}}${at} = ${act}(${sum(run, gate, t)}) = ${act}(${fmt(pre(run, gate, t))}) = ${fmt(T.value[gate][t])}`,
        note: name,
      });
    }
  }
  if (run.cell.startsWith("lstm")) {
    const [f, i, g, o] = ["f", "i", "g", "o"].map((k) => T.value[k][t]);
    lines.push({
      general: "c_{t} = f_{t} ⊙ c_{t−1} + i_{t} ⊙ g_{t}",
      live: `c_{${t + 1}}${at} = ${fmt(f)} × ${term(T.c_prev[t])} + ${fmt(i)} × ${term(g)} = ${fmt(T.c_t[t])}`,
      note: "the cell state: keep a share f of the old memory, write a share i of the candidate",
      key: true,
    });
    if (run.cell === "lstm_layer_norm") {
      const [gain, bias] = [T.own.layernorm_c_weight[0], T.own.layernorm_c_bias[0]];
      const cHat = T.kept.c_hat[0][t];
      lines.push({
        general: "h_{t} = o_{t} ⊙ tanh(γ_{c} ⊙ LN(c_{t}) + β_{c})",
        live: `h_{${t + 1}}${at} = ${fmt(o)} × tanh(${fmt(gain)} × ${term(cHat)} + ${term(bias)}) = ${fmt(T.h_t[t])}`,
        note: "LN(u) = (u − mean) / std over the layer's units: each row of numbers is put on one scale before its gain and bias",
        key: true,
      });
    } else if (run.projection) {
      lines.push({
        general: "h̃_{t} = o_{t} ⊙ tanh(c_{t})",
        live: `h̃_{${t + 1}}${at} = ${fmt(o)} × tanh(${fmt(T.c_t[t])}) = ${fmt(T.h_t[t])}`,
        key: true,
      });
      lines.push({
        general: "h_{t} = W_{hr} h̃_{t}",
        live: `h_{${t + 1}} = W_{hr} h̃_{${t + 1}}: ${run.projection} numbers, each a weighted sum of all ${run.hidden_size} units of h̃_{${t + 1}}`,
        note: "the projection (proj_size): h, which the next step's recurrent weights and the output read, is narrower than the cell",
      });
    } else {
      lines.push({
        general: "h_{t} = o_{t} ⊙ tanh(c_{t})",
        live: `h_{${t + 1}}${at} = ${fmt(o)} × tanh(${fmt(T.c_t[t])}) = ${fmt(T.h_t[t])}`,
        key: true,
      });
    }
  }
  if (run.cell === "gru_layer_norm") {
    const [r, n] = [T.value.r[t], T.value.n[t]];
    const [g1, u, b1, g2, v, b2] = normalised(run, "n", t);
    lines.push({
      general: "n_{t} = tanh(γ_{in} ⊙ LN(W_{in} x_{t} + b_{in}) + β_{in} + r_{t} ⊙ (γ_{hn} ⊙ LN(W_{hn} h_{t−1} + b_{hn}) + β_{hn}))",
      live: `n_{${t + 1}}${at} = tanh(${fmt(g1)} × ${term(u)} + ${term(b1)} + ${fmt(r)} × (${fmt(g2)} × ${term(v)} + ${term(b2)})) = ${fmt(n)}`,
      note: "candidate; LN(u) = (u − mean) / std over the layer's units, before its gain and bias",
    });
  }
  if (run.cell === "gru_reset_before") {
    const [r, n] = [T.value.r[t], T.value.n[t]];
    lines.push({
      general: "n_{t} = tanh(W_{in} x_{t} + b_{in} + W_{hn} (r_{t} ⊙ h_{t−1}) + b_{hn})",
      live: `n_{${t + 1}}${at} = tanh(${fmt(T.x.n[t])} + ${term(T.b_ih.n)} + ${term(T.h.n[t])} + ${term(T.b_hh.n)}) = ${fmt(n)}`,
      note: `candidate: the reset gate (r = ${fmt(r)} here) scales the previous state before n's recurrent weights read it (Cho et al. 2014; Keras' reset_after=False)`,
    });
  }
  if (run.cell === "gru") {
    const [r, n] = [T.value.r[t], T.value.n[t]];
    lines.push({
      general: "n_{t} = tanh(W_{in} x_{t} + b_{in} + r_{t} ⊙ (W_{hn} h_{t−1} + b_{hn}))",
      live: `n_{${t + 1}}${at} = tanh(${fmt(T.x.n[t])} + ${term(T.b_ih.n)} + ${fmt(r)} × (${fmt(T.h.n[t])} + ${term(T.b_hh.n)})) = ${fmt(n)}`,
      note: "candidate: the reset gate decides how much of the old state it may read",
    });
  }
  if (run.cell.startsWith("gru")) {
    const [z, n] = [T.value.z[t], T.value.n[t]];
    lines.push({
      general: "h_{t} = (1 − z_{t}) ⊙ h_{t−1} + z_{t} ⊙ n_{t}",
      live: `h_{${t + 1}}${at} = (1 − ${fmt(z)}) × ${term(T.h_prev[t])} + ${fmt(z)} × ${term(n)} = ${fmt(T.h_t[t])}`,
      note: "z is how much of the new candidate is taken",
      key: true,
    });
  }
  if (run.kind === "text") {
    const p = run.predictions[t];
    const top = p.top.map(([s, q]) => `'${showChar(s)}' ${pct(q)}`).join(", ");
    const scores = p.top.map(([s], k) => `'${showChar(s)}' ${fmt(p.scores[k])}`).join(", ");
    lines.push({
      general: "y_{t} = g(V h_{t} + c),  g = softmax",
      live: `V h_{${t + 1}} + c: ${scores} → softmax → y_{${t + 1}}: ${top}` + (p.actual !== undefined ? `; the real next character '${showChar(run.labels[t + 1])}' got ${pct(p.actual)}` : ""),
      note: "the output: V (the output layer's weight) and c (its bias) give every character of the vocabulary a score; g = softmax turns the scores into probabilities (the top 3 shown)",
      output: true,
    });
  } else if (run.seq2seq) {
    const none = run.seq2seq.attention === "none";
    lines.push({
      general: "k_{t} = h_{t}",
      live: `k_{${t + 1}} = h_{${t + 1}}: ${run.hidden_size} numbers, one key of the source`,
      note: none
        ? "without attention the decoder reads none of the keys: it starts from the encoder's last state and never looks back (panel 9)"
        : "the encoder's output at each step is a key the decoder's attention weighs (panel 9); the decoder starts from the last state",
    });
  } else {
    lines.push({
      general: "y_{t} = V h_{t} + c",
      live: `y_{${t + 1}} = ${fmt(run.outputs[t])}   (target ${fmt(run.targets[t])})`,
      note: "the output: a linear read-out of the whole hidden state",
    });
  }
  return lines;
}

/** Where the numbers come from: step, input, unit, layer. */
export function whereText(run, t) {
  const input = charInputs(run) ? `'${showChar(run.labels[t])}'` : run.labels[t];
  let text = `step t = ${t + 1} of ${run.steps}, input x_{${t + 1}} = ${input}, unit j = ${run.unit}`;
  if (run.layers > 1) text += `, layer ${run.layer + 1} of ${run.layers}`;
  return text;
}

export function init(context) {
  ctx = context;
  root = ctx.panel("equations");
  const render = () => {
    const run = ctx.state.run;
    if (!run) return;
    const t = ctx.state.t;
    const where = clear(document.getElementById("equation-where"));
    where.append(math(`${CELL_NAMES[run.cell]} · ` + whereText(run, t)));
    const notes = [];
    if (t === 0) notes.push("At the first step the previous state is zero: h_{0} = 0" + (run.cell.startsWith("lstm") ? ", c_{0} = 0." : "."));
    if (run.layer > 0) notes.push(`In layer ${run.layer + 1}, x_{t} is the hidden state of layer ${run.layer} at the same step.`);
    else if (run.kind === "text" && run.one_hot) notes.push("x_{t} is one-hot, so W_{ih} x_{t} is simply the column of W_{ih} for this character.");
    const box = clear(document.getElementById("equations"));
    for (const line of stepEquations(run, t)) {
      box.append(
        el(
          "div",
          { class: "eq-block" + (line.key ? " key" : "") + (line.material ? " material" : "") + (line.output ? " output" : "") },
          el("div", { class: "eq-general" }, math(line.general)),
          el("div", { class: "eq-live" }, math(line.live)),
          line.note ? el("div", { class: "eq-note" }, math(line.note)) : null,
        ),
      );
    }
    for (const note of notes) box.append(el("div", { class: "eq-note" }, math(note)));
    root.dataset.step = String(t);
    root.dataset.unit = String(run.unit);
    root.dataset.ready = "true";
  };
  ctx.on("run", render);
  ctx.on("select", render);
}
