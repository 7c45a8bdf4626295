"""rnnlab: recurrent neural networks from first principles, made fast and visible."""

__version__ = "0.1.0"
