"""Complete "To be, or not to ___" with a word-level LSTM trained on Shakespeare.

    python examples/complete_words.py            # 3,000 steps: ~5–10 min on 2 cores
    python examples/complete_words.py --quick    # a few seconds (what the tests run)

A word vocabulary (the most frequent tokens, the rest <unk>) turns the plays into a
stream of ids; the model predicts each next id, p(w_{t+1} | w_≤t) = softmax(V h_t + c).
Its validation perplexity is compared with a unigram model's, which knows only how
frequent each word is.
"""

from __future__ import annotations

import argparse
import math

from rnnlab.applications.completion import split_text, unigram_loss
from rnnlab.data.corpora import shakespeare
from rnnlab.data.text import WordVocab
from rnnlab.generate import next_distribution, sample
from rnnlab.models.language import LanguageModel, LanguageModelConfig
from rnnlab.train import TrainConfig, Trainer, evaluate


def main(argv: list[str] | None = None) -> tuple[float, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny run, for the tests")
    args = parser.parse_args(argv)
    vocab_size, hidden, steps = (1000, 32, 20) if args.quick else (5000, 256, 3000)

    train_text, val_text = split_text(shakespeare(), val_fraction=0.1)
    if args.quick:  # a slice of the plays
        train_text, val_text = train_text[:300_000], val_text[:20_000]
    vocab = WordVocab.from_text(train_text, max_size=vocab_size)  # training text only
    train_ids, val_ids = vocab.encode(train_text), vocab.encode(val_text)
    config = LanguageModelConfig(len(vocab), hidden_size=hidden, embedding_dim=64)
    model = LanguageModel(config, seed=0, vocab=vocab)
    train = TrainConfig(
        steps=steps, batch_size=32, seq_len=32, lr=3e-3, schedule="cosine", sample_every=0
    )
    Trainer(model, train_ids, None, train).fit()

    loss, _ = evaluate(model, val_ids)
    perplexity, unigram = math.exp(loss), math.exp(unigram_loss(vocab, val_ids))
    print(f"validation perplexity {perplexity:.1f}; unigram baseline {unigram:.1f}")
    prompt = "To be, or not to"
    for word, p in next_distribution(model, prompt, k=5):
        print(f"  {prompt} {word!r:>10}  {p:.3f}")
    print(prompt + sample(model, n=12, prime=prompt, temperature=0))
    return perplexity, unigram


if __name__ == "__main__":
    main()
