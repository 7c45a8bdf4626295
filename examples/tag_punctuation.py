"""Put the punctuation and capital letters back into Shakespeare.

    python examples/tag_punctuation.py            # bidirectional LSTM-128: ~1.5 min
    python examples/tag_punctuation.py --quick    # a few seconds (what the tests run)

Every speech is lower-cased and stripped of punctuation; each word is tagged with its
case and the mark after it, and a bidirectional LSTM learns to tag the words of plays
it never read. Each tag is scored (precision, recall, F1) next to the baseline that
gives every word its most frequent tag in the training plays.
"""

from __future__ import annotations

import argparse

from rnnlab.applications.tagging import TagOptions, run_tag
from rnnlab.data.tags import restore


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny run, for the tests")
    args = parser.parse_args(argv)
    options = TagOptions()
    if args.quick:
        options = TagOptions(epochs=1, hidden=16, embedding_dim=16, vocab_size=2000, batch=64)
    outcome = run_tag(options)
    print(outcome.split.description)
    for view in outcome.views:
        print(f"{view.name}: accuracy {view.accuracy:.2%}, baseline {view.baseline_accuracy:.2%}")
        for model, baseline in zip(view.model, view.baseline, strict=True):
            print(
                f"  {model.tag:8} support {model.support:7,}  F1 {model.f1:.3f}  "
                f"baseline {baseline.f1:.3f}"
            )
    for words, truth, predicted in outcome.examples:
        print(f"text:     {restore(words, truth)}\nrestored: {restore(words, predicted)}")
    punctuation = {s.tag: s.f1 for s in outcome.views[1].model}
    baseline = {s.tag: s.f1 for s in outcome.views[1].baseline}
    return {"period": punctuation["."], "baseline period": baseline["."]}


if __name__ == "__main__":
    main()
