"""Classify handwritten digits as sequences: 8 rows of 8 pixels, or 64 single pixels.

    python examples/classify_digits.py                   # LSTM-64, row by row: ~15 s
    python examples/classify_digits.py --cell rnn_tanh
    python examples/classify_digits.py --pixels          # 64 steps of 1 pixel: ~1 min
    python examples/classify_digits.py --quick           # a few seconds (what the tests run)

scikit-learn's 1,797 bundled 8×8 digits (no download), 450 held out for testing. The
network reads a whole image, one step at a time, and answers from its last state:
p = softmax(V h_T + c).
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.model_selection import train_test_split

from rnnlab.data.datasets import ArrayBatcher
from rnnlab.data.labelled import digits
from rnnlab.models.classify import accuracy, confusion_matrix, make_classifier, predict_proba
from rnnlab.train import TrainConfig, Trainer


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", default="lstm", help="lstm, gru or rnn_tanh")
    parser.add_argument("--pixels", action="store_true", help="pixel by pixel (64 steps)")
    parser.add_argument("--quick", action="store_true", help="a tiny run, for the tests")
    args = parser.parse_args(argv)
    hidden, epochs = (16, 2) if args.quick else (64, 30)

    data = digits("pixels" if args.pixels else "rows")  # x: (1797, T, F), pixels ÷ 16
    x_train, x_test, y_train, y_test = train_test_split(
        data.x, data.y, test_size=450, random_state=0, stratify=data.y
    )
    model = make_classifier(x_train.shape[-1], data.labels, args.cell, hidden, seed=0)
    batches = ArrayBatcher(x_train, y_train, batch_size=64, seed=0)
    steps = epochs * len(batches)
    config = TrainConfig(
        steps=steps, batch_size=64, lr=1e-2, schedule="cosine", clip=1.0, sample_every=0
    )
    Trainer(model, batches, None, config).fit()

    predicted = predict_proba(model, x_test).argmax(axis=1)
    score = accuracy(predicted, y_test)
    order = "pixel by pixel" if args.pixels else "row by row"
    print(f"digits {order}, {args.cell.upper()}-{hidden}, {epochs} epochs: {score:.2%} correct")
    print("confusion matrix (rows: true digit, columns: predicted):")
    with np.printoptions(linewidth=120):
        print(confusion_matrix(y_test, predicted, 10))
    return score


if __name__ == "__main__":
    main()
