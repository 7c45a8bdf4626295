"""Applications of recurrent networks: forecasting, sequence classification, sequence
labelling, word completion.

Each application prepares its data, trains a model from ``rnnlab.models`` with the
``Trainer`` and measures it against an honest baseline:

- ``forecasting.run_forecast``: NRMSE against persistence (``rnnlab forecast``);
- ``classification.run_classify``: accuracy and confusion matrix against the majority
  class (``rnnlab classify``);
- ``tagging.run_tag``: per-tag precision, recall and F1 against each token's most
  frequent tag (``rnnlab tag``);
- ``completion.run_complete``: perplexity against a unigram model (``rnnlab complete``).

The command-line faces live in ``commands.py`` and ``tag_commands.py``; the plots in
``plots.py``.
"""
