"""Cross-cutting core of the safety-validation harness: version, errors, quiet TensorFlow import."""

__version__ = "0.1.0"
