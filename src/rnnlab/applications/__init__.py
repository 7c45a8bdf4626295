"""Applications of recurrent networks: forecasting, sequence classification, word completion.

Each application prepares its data, trains a model from ``rnnlab.models`` with the
``Trainer`` and measures it against an honest baseline:

- ``forecasting.run_forecast``: NRMSE against persistence (``rnnlab forecast``);
- ``classification.run_classify``: accuracy and confusion matrix against the majority
  class (``rnnlab classify``);
- ``completion.run_complete``: perplexity against a unigram model (``rnnlab complete``).

The command-line faces live in ``commands.py``; the plots in ``plots.py``.
"""
