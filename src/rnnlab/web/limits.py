"""Every bound the web lab enforces, in one place (the API and the page both read them).

The lab is a teaching tool on a laptop: the bounds keep every request to well under a
second of work and a few megabytes of answer, and stop a stray request from tying up
the machine.
"""

from __future__ import annotations

MAX_BODY_BYTES = 1_000_000  #: largest request body accepted (a typed corpus fits)
MAX_HIDDEN = 256  #: hidden units per layer
MAX_LAYERS = 3  #: stacked recurrent layers
MAX_MODELS = 12  #: models kept in memory at once (least recently used go first)
MAX_TRAIN_STEPS = 2000  #: updates per "train" request
MAX_TRAIN_SECONDS = 120.0  #: and wall time per "train" request (big models are slow)
MAX_TEXT_STEPS = 400  #: characters a text sequence may have in the step-by-step views
MAX_NUMERIC_STEPS = 200  #: time steps of a numeric sequence
MIN_NUMERIC_STEPS = 2
MAX_CONTEXT = 1500  #: characters of context for the next-character distribution
MAX_PRIME = 400  #: characters of prime text for generation
MAX_GENERATE = 1000  #: characters generated per request
MAX_REVERSE_LETTERS = 12  #: letters of a source of the reverse task (seq2seq)
MAX_DATE_CHARS = 40  #: characters of a written date (seq2seq)
MAX_DECODE_STEPS = 24  #: characters an encoder–decoder may write for one source
MAX_CORPUS_CHARS = 200_000  #: characters of a typed training text
MIN_CORPUS_CHARS = 20
MAX_TOP_K = 100  #: bars of a next-character distribution, and sampling's top-k
MAX_TEMPERATURE = 2.0
MIN_SCALE, MAX_SCALE = 0.05, 5.0  #: recurrent-weight scale of the gradient panel
MAX_SEED = 2**31 - 1
MAX_LR = 0.05
MAX_BPTT_LR = 10.0  #: learning rate of the BPTT panel's one plain gradient-descent step
MAX_CLIP = 100.0  #: gradient-norm clipping threshold of the BPTT panel
COMPUTE_WORKERS = 2  #: expensive requests (views, gradients, sampling) computed at once
MAX_WAITING = 16  #: expensive requests queued behind them; more are answered 503
REQUEST_SECONDS = 30.0  #: a client must send a whole request within this (slowloris)
# the applications panel (rnnlab.web.applications): small models, trained from scratch
MAX_APP_HIDDEN = 128  #: hidden units of an application's model
MAX_APP_MODELS = 12  #: application models kept (the least recently used go first)
MAX_APP_TRAIN_SECONDS = 120.0  #: wall time of one application's training
MAX_FORECAST_STEPS = 3000  #: training steps of a forecaster
MIN_FORECAST_WINDOW, MAX_FORECAST_WINDOW = 4, 60  #: values a forecaster sees per forecast
MAX_FORECAST_HORIZON = 48  #: values forecast in closed loop
MAX_CLASSIFY_EPOCHS = 3  #: passes over the genre passages
MAX_CLASSIFY_CHARS = 2000  #: characters of a passage to classify
MAX_COMPLETE_STEPS = 2000  #: training steps of the word model
MAX_COMPLETE_PROMPT = 400  #: characters of a prompt to complete
MAX_NEXT_WORDS = 20  #: next words listed with their probabilities
# select and match (LSTMVis): the training text searched for the selected units
MAX_MATCH_CORPUS_CHARS = 50_000  #: characters of the training text read and searched
MAX_MATCH_VALUES = 6_400_000  #: h values kept per reading (fewer characters for wide layers)
MATCH_CACHE_RUNS = 2  #: corpus readings kept (model, steps trained, layer)
MAX_MATCH_MARGIN = 3  #: steps either side of a span where the units must be off
MAX_MATCHES = 10  #: places of the training text listed
MAX_SHOWN_UNITS = 16  #: selected units whose values over the text are sent
MATCH_CONTEXT = 24  #: characters shown either side of a match
MAX_SUGGESTIONS = 6  #: spans of the text suggested, where some units switch on
MAX_SUGGESTED_CHARS = 12  #: and their longest
# validation of the lab's text models, and the runs compared in the "Compare runs" panel
VAL_FRACTION = 0.1  #: the tail of a text model's training text held out for validation
MIN_VAL_CHARS = 64  #: a shorter tail (a short typed text) is not held out: no validation
VAL_EVERY = 50  #: updates between two validation losses (and one at the end of a request)
VAL_TOKENS = 4096  #: characters of the held-out tail scored each time (its start)
MAX_PAST_RUNS = 12  #: curves kept of models reset or dropped from memory
MAX_RUN_DIRS = 16  #: run directories ``rnnlab serve --runs`` shows
MAX_METRICS_BYTES = 16_000_000  #: a larger metrics.jsonl is not read (one line says so)
MAX_METRICS_ROWS = 200_000  #: rows of a metrics.jsonl read; the rest are left
MAX_RUN_POINTS = 1000  #: points per curve sent to the page (a longer one: every k-th)


def as_json() -> dict[str, float | int]:
    """The limits the page needs to build its controls."""
    return {
        "max_hidden": MAX_HIDDEN,
        "max_layers": MAX_LAYERS,
        "max_train_steps": MAX_TRAIN_STEPS,
        "max_train_seconds": MAX_TRAIN_SECONDS,
        "max_text_steps": MAX_TEXT_STEPS,
        "max_numeric_steps": MAX_NUMERIC_STEPS,
        "min_numeric_steps": MIN_NUMERIC_STEPS,
        "max_context": MAX_CONTEXT,
        "max_prime": MAX_PRIME,
        "max_generate": MAX_GENERATE,
        "max_reverse_letters": MAX_REVERSE_LETTERS,
        "max_date_chars": MAX_DATE_CHARS,
        "max_decode_steps": MAX_DECODE_STEPS,
        "max_corpus_chars": MAX_CORPUS_CHARS,
        "min_corpus_chars": MIN_CORPUS_CHARS,
        "max_top_k": MAX_TOP_K,
        "max_temperature": MAX_TEMPERATURE,
        "min_scale": MIN_SCALE,
        "max_scale": MAX_SCALE,
        "max_app_hidden": MAX_APP_HIDDEN,
        "max_forecast_steps": MAX_FORECAST_STEPS,
        "min_forecast_window": MIN_FORECAST_WINDOW,
        "max_forecast_window": MAX_FORECAST_WINDOW,
        "max_forecast_horizon": MAX_FORECAST_HORIZON,
        "max_classify_epochs": MAX_CLASSIFY_EPOCHS,
        "max_classify_chars": MAX_CLASSIFY_CHARS,
        "max_complete_steps": MAX_COMPLETE_STEPS,
        "max_complete_prompt": MAX_COMPLETE_PROMPT,
        "max_next_words": MAX_NEXT_WORDS,
    }
