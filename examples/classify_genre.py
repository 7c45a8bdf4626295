"""Tell comedy, history and tragedy apart from 100 words of a Shakespeare play.

    python examples/classify_genre.py            # LSTM-64 over word embeddings: ~1 min
    python examples/classify_genre.py --quick    # a few seconds (what the tests run)

Passages are labelled by their play's genre; whole plays are held out, so the test
passages come from plays the network never read. The baseline is the majority class.
"""

from __future__ import annotations

import argparse

from rnnlab.applications.classification import ClassifyOptions, run_classify


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny run, for the tests")
    args = parser.parse_args(argv)
    options = ClassifyOptions(data="genre", epochs=10, lr=1e-2)
    if args.quick:
        options = ClassifyOptions(
            data="genre", epochs=1, hidden=8, embedding_dim=8, tokens=30, vocab_size=500
        )
    outcome = run_classify(options)
    print(outcome.split.description)
    print(
        f"test accuracy {outcome.accuracy:.2%} on {len(outcome.predicted)} passages; "
        f"majority class {outcome.majority_rate:.2%}"
    )
    for play, vote in outcome.group_votes.items():
        print(f"  {play}: {vote} ({outcome.labels[outcome.split.group_labels[play]]})")
    return outcome.accuracy


if __name__ == "__main__":
    main()
