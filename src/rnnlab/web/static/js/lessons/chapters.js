// The lessons: the course material's chapters in order, each a short text, the lab's
// panels that make it live, the settings they open with, and a question with feedback.
//
// A chapter: {id, title, settings (the address it opens with, as in address.js), panels
// (data-panel names shown with it, in the lab's order), text (paragraphs, or {eq} for an
// equation on a line of its own; _{…} and ^{…} become sub- and superscripts), tryIt (things
// to do in those panels), question: {prompt, options: [{text, right, feedback}]}}.
// Exactly one option of each question is right.

export const CHAPTERS = [
  {
    id: "memory",
    title: "Sequences and memory",
    settings: "cell=rnn_tanh&hidden=16",
    panels: ["config", "sequence", "unrolled", "equations"],
    text: [
      "A recurrent network reads a sequence one item at a time and keeps a memory of what it has read: the hidden state h_{t}. At every step the same two equations run:",
      { eq: "h_{t} = f(U x_{t} + W h_{t−1} + b)   ·   y_{t} = g(V h_{t} + c)" },
      "U weighs the new input x_{t}, W carries the previous state h_{t−1} into the new one (that is the memory), and f (here tanh) squashes the sum. V and c read the output y_{t} off the state, and g turns those scores into the output's form. The lab and PyTorch call U, W and V weight_ih (W_{ih}), weight_hh (W_{hh}) and the output layer's weight; b is b_{ih} + b_{hh}.",
      "Panel 3 draws the same cell once per character; panel 8 writes both equations for the selected step and unit with the network's own numbers, in the lab's names and in U, W, V.",
    ],
    tryIt: [
      "Click a step in panel 3 (or focus it and use ← →): panel 8 rewrites h_{t} with that step's numbers.",
      "Check the arithmetic of one line of panel 8: the terms add up to the value inside tanh.",
      "Train for 200 steps in panel 1 and watch the top predictions in panel 8 improve.",
    ],
    question: {
      prompt: "In y_{t} = g(V h_{t} + c), what is the role of g?",
      options: [
        {
          text: "It turns the scores V h_{t} + c into the output's form: for characters, softmax makes them probabilities that are positive and add up to 1.",
          right: true,
          feedback: "Right. g is the output activation: softmax for a choice among classes or characters, the identity when the output is a number (the sine and adding tasks).",
        },
        {
          text: "It carries the memory from one step to the next.",
          feedback: "Not g: the memory is h_{t}, carried forward by W h_{t−1} inside f. Nothing g computes is fed back into the next step.",
        },
        {
          text: "It squashes the hidden state into (−1, 1).",
          feedback: "That is f = tanh in the first equation. g acts on the output scores V h_{t} + c, not on the hidden state.",
        },
        {
          text: "It is the learning rate of the output layer.",
          feedback: "No: the learning rate η belongs to training (the next lesson), not to the network's equations.",
        },
      ],
    },
  },
  {
    id: "bptt",
    title: "Backpropagation through time",
    settings: "cell=rnn_tanh&hidden=16&text=to+be%2C+or+not+to+be",
    panels: ["config", "sequence", "bptt"],
    text: [
      "Training asks how the loss L would change if a weight changed: the gradient ∂L/∂W. Unrolled through time, the network is a deep chain that uses the same W at every step, so the gradient is a sum with one term per step.",
      "Backpropagation through time walks the chain backwards, from the last step to the first. At step t the gradient reaching h_{t} comes from that step's own loss L_{t} and from the step after it, through W. Passed through tanh it becomes δ_{t} = ∂L/∂h_{t} ⊙ (1 − h_{t}^{2}), and the step adds δ_{t} h_{t−1}^{T} to ∂L/∂W.",
      "When the walk reaches t = 1 the gradient is complete, and every weight takes one step against it: W := W − η ∂L/∂W, with the learning rate η. A small step lowers the loss; too large a step overshoots.",
    ],
    tryIt: [
      "Step with ▶ in panel 10 and watch the blue norms appear from right to left, and the dashed sum grow.",
      "Go to the last position (the update) and compare the loss before and after for η = 0.5, then for η = 5.",
      "Choose a clipping threshold of 0.1: the update now moves W less, by the factor shown.",
    ],
    question: {
      prompt: "Why is ∂L/∂W a sum of one term per time step?",
      options: [
        {
          text: "Because the same W is used at every step, and each use of it changes the loss.",
          right: true,
          feedback: "Right. The unrolled network shares one W across the steps, so the effects of all its uses add up into one gradient and one update.",
        },
        {
          text: "Because each step has its own copy of W, updated separately.",
          feedback: "No: there is one W. The unrolled picture repeats the cell, not its weights; that sharing is what makes the terms add into one gradient.",
        },
        {
          text: "Because the loss is only measured at the last step.",
          feedback: "Here the loss is the mean over every step. And even with a loss at the last step only, the earlier steps would still contribute, through the hidden states that carry them forward.",
        },
      ],
    },
  },
  {
    id: "gradients",
    title: "Vanishing and exploding gradients, and their remedies",
    settings: "cell=rnn_tanh&hidden=32",
    panels: ["config", "gradients", "bptt"],
    text: [
      "Walking back one step multiplies the gradient by W^{T} and by tanh's slope. Over many steps these products shrink it towards 0 (it vanishes: the first steps learn nothing) or grow it without bound (it explodes: the updates become huge and unstable).",
      "The remedies: gates (the LSTM's cell state c_{t} = f_{t} ⊙ c_{t−1} + … passes the gradient back multiplied by f_{t}, which can stay near 1); clipping, which scales a gradient whose norm is above a threshold down to it (it tames explosion, it cannot revive a vanished gradient); initialisation of W near an orthogonal or identity matrix, whose products neither shrink nor grow at first; residual connections between stacked layers (panel 1's Residual); and attention (panel 9), which gives each output a direct path to every input however far back.",
    ],
    tryIt: [
      "Panel 6: drag the scale of the recurrent weights below 1, then above 1, and read which model vanishes or explodes.",
      "Choose \u201call untrained\u201d in panel 6 to compare the three cells at equal training.",
      "Panel 10: set η = 5 and clipping at 0.1, and see the update's size capped.",
    ],
    question: {
      prompt: "The plain RNN's ‖∂L/∂h_{t}‖ falls by 10× every few steps back. Which of these does NOT help?",
      options: [
        {
          text: "Clipping the gradient's norm.",
          right: true,
          feedback: "Right: clipping only scales a gradient down when it is too large. It is the remedy for exploding gradients; it cannot restore one that has vanished.",
        },
        {
          text: "Gates: an LSTM or a GRU instead of the plain RNN.",
          feedback: "Gates do help: the LSTM's cell state passes the gradient back multiplied by the forget gate, which can stay near 1 over many steps.",
        },
        {
          text: "Initialising W near an orthogonal or identity matrix.",
          feedback: "That helps too: an orthogonal W keeps the gradient's size through each step at the start of training (rnnlab's recurrent_init=\"orthogonal\"). The lab's models start from a small uniform W instead, which is why their plain RNN still vanishes at scale 1.",
        },
        {
          text: "Residual connections or attention.",
          feedback: "Both help: they give the gradient shorter paths, around layers or straight to a far step.",
        },
      ],
    },
  },
  {
    id: "gates",
    title: "LSTM and GRU gates",
    settings: "cell=lstm&hidden=32",
    panels: ["config", "sequence", "heatmap", "equations", "neuron"],
    text: [
      "An LSTM keeps a second state, the cell state c_{t}, and three gates between 0 and 1 decide what happens to it: the forget gate f_{t} how much of c_{t−1} is kept, the input gate i_{t} how much of the new candidate g_{t} is written, the output gate o_{t} how much of tanh(c_{t}) is shown as h_{t}:",
      { eq: "c_{t} = f_{t} ⊙ c_{t−1} + i_{t} ⊙ g_{t}   ·   h_{t} = o_{t} ⊙ tanh(c_{t})" },
      "A GRU has two gates and one state: the reset gate r_{t} decides how much of h_{t−1} the candidate n_{t} may read, and the update gate z_{t} how much of the candidate is taken: h_{t} = (1 − z_{t}) ⊙ h_{t−1} + z_{t} ⊙ n_{t}.",
    ],
    tryIt: [
      "Panel 4 shows every gate of every unit at every step: find a unit whose forget gate stays near 1 (dark blue).",
      "Click that unit in panel 4: panel 8 writes its gates' equations with numbers, and panel 7 colours the text by it.",
      "Switch panel 1 to the GRU and compare its two gates.",
    ],
    question: {
      prompt: "An LSTM unit's forget gate stays near 1 and its input gate near 0 for many steps. What does its cell state do?",
      options: [
        {
          text: "It keeps its value: c_{t} = f_{t} ⊙ c_{t−1} + i_{t} ⊙ g_{t} ≈ c_{t−1}.",
          right: true,
          feedback: "Right: the unit remembers. And the gradient flowing back through it is multiplied by f_{t} ≈ 1 at each step, so it does not vanish either.",
        },
        {
          text: "It is reset to 0.",
          feedback: "Resetting needs the forget gate near 0: c_{t} ≈ 0 · c_{t−1} + …",
        },
        {
          text: "It follows the new input g_{t}.",
          feedback: "Writing the new candidate needs the input gate near 1; with i_{t} ≈ 0 nothing new is written.",
        },
      ],
    },
  },
  {
    id: "deep",
    title: "Stacked and bidirectional networks",
    settings: "cell=lstm&hidden=32&layers=2&ccompare=directions&ct=20",
    panels: ["config", "sequence", "heatmap", "connectivity"],
    text: [
      "Stacked: a second layer reads the first layer's hidden states as its inputs, x_{t}^{(2)} = h_{t}^{(1)}, and a third reads the second's. Higher layers can build on the patterns of the lower ones; residual connections (panel 1) add each layer's input to its output, which helps deep stacks train.",
      "Bidirectional: one layer reads the sequence forwards, a second one backwards, and the output at step t joins both states, [h→_{t}; h←_{t}]: it knows the whole sequence, before and after t. That suits tasks that see the whole sequence first: tagging each word with its punctuation (rnnlab tag), classification, the encoder of an encoder–decoder.",
      "Panel 11 shows the difference: for the output at step t it shades every input by how strongly it drives that output, ‖∂y_{t}/∂x_{s}‖, for the model reading one way and for its twin reading both ways.",
    ],
    tryIt: [
      "Panel 4: switch between layer 1 and layer 2 and compare how their units respond to the text.",
      "Panel 11: move the output step t. One way, nothing after t is shaded; both ways, the inputs after t are shaded (underlined) too, starting with the very character the output should predict.",
      "Panel 1: try 3 layers with Residual on, train, and compare the loss curve with 1 layer.",
    ],
    question: {
      prompt: "Why can a next-character language model not be bidirectional?",
      options: [
        {
          text: "Its backward direction would already have read the character it has to predict.",
          right: true,
          feedback: "Right: at step t the backward direction has read x_{t+1}, the answer. Bidirectional layers are for tasks that see the whole sequence before answering.",
        },
        {
          text: "Bidirectional layers cannot be stacked.",
          feedback: "They can: each layer then reads both directions' states of the layer below.",
        },
        {
          text: "It would need twice as many parameters.",
          feedback: "It would, but that is a cost, not a reason it cannot work. The problem is what the backward direction reads.",
        },
      ],
    },
  },
  {
    id: "generation",
    title: "Generation and temperature",
    settings: "cell=lstm&hidden=64",
    panels: ["config", "generate"],
    text: [
      "A trained language model writes text one character at a time: 1 it reads the current character, 2 updates its hidden state, 3 scores every character of the vocabulary (V h_{t} + c), 4 turns the scores into probabilities with softmax at a temperature T: p_{k} = exp(s_{k}/T) / Σ_{j} exp(s_{j}/T), 5 draws one character and feeds it back in as the next input.",
      "The temperature reshapes the distribution without changing the model: below 1 it sharpens it (the likely characters get likelier: safe, repetitive text), above 1 it flattens it (surprising, error-prone text). Top-k and top-p keep only the k likeliest characters, or the fewest whose probabilities add up to p.",
    ],
    tryIt: [
      "Train the model for a few hundred steps in panel 1, then generate in panel 5.",
      "Generate at temperature 0.2 and at 1.8 with the same prime, and compare.",
      "Step through the generated text: the bars show the probabilities the model gave at each character.",
    ],
    question: {
      prompt: "What does sampling at a temperature close to 0 do?",
      options: [
        {
          text: "It almost always draws the most likely character, like taking the argmax.",
          right: true,
          feedback: "Right: dividing the scores by a tiny T makes the largest one dominate the softmax, so generation becomes greedy and often repetitive.",
        },
        {
          text: "It draws every character with the same probability.",
          feedback: "That is a very high temperature: the scores divided by a large T become nearly equal.",
        },
        {
          text: "It changes the network's weights.",
          feedback: "No: the temperature only rescales the scores before softmax, at sampling time; the model stays as it is.",
        },
      ],
    },
  },
  {
    id: "applications",
    title: "Applications",
    settings: "",
    panels: ["apps"],
    text: [
      "The same cells serve many tasks; only what is read off the hidden states changes. Forecasting reads a number at every step (y_{t} = V h_{t} + c, g the identity); classification reads one distribution over classes after the last step; word completion is a language model over words instead of characters.",
      "A result means something only next to a baseline: the forecast against repeating the last value, the classifier against always answering the most frequent class, the word completion against the unigram model (every word as likely as it is frequent).",
    ],
    tryIt: [
      "Forecast: train, then compare the model's error with the last-value baseline's.",
      "Classification: type a passage and read the class probabilities.",
      "Word completion: type the start of a line and append the suggested words one by one.",
    ],
    question: {
      prompt: "A forecaster's error is 0.30 and the last-value baseline's is 0.25 on the same held-out points. What do you conclude?",
      options: [
        {
          text: "The model is worse than simply repeating the last value: it has not learned anything useful yet.",
          right: true,
          feedback: "Right: an error means something only next to a baseline. Train longer, or rethink the model, until it beats the naive forecast.",
        },
        {
          text: "The model is good: an error of 0.30 is small.",
          feedback: "Small or large depends on the data; compared with the baseline on the same points, it is worse.",
        },
        {
          text: "The baseline must be wrong, because it was not trained.",
          feedback: "A baseline needs no training to be right: it is the bar a trained model has to clear.",
        },
      ],
    },
  },
];
