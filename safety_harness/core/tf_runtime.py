"""Lazy, quiet imports of TensorFlow, Keras 3 and tf_keras.

TensorFlow costs about 4 s to import, so nothing imports it at module level:
``pytest --help`` and the pure unit tests stay fast. Its absl start-up lines ignore
``TF_CPP_MIN_LOG_LEVEL``; only redirecting file descriptor 2 around the import
keeps them out of the user's terminal.
"""

import contextlib
import functools
import importlib
import os
import sys


@contextlib.contextmanager
def stderr_silenced():
    """Send file descriptor 2 to /dev/null: TensorFlow's C++ and absl lines bypass Python's logging."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@functools.cache
def _quiet_import(name: str):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with stderr_silenced():
        return importlib.import_module(name)


def tensorflow():
    """The ``tensorflow`` module, imported once and quietly."""
    tf = _quiet_import("tensorflow")
    tf.get_logger().setLevel("ERROR")
    return tf


def keras():
    """The Keras 3 module."""
    tensorflow()
    return _quiet_import("keras")


def tf_keras():
    """The ``tf_keras`` module (Keras 2), which reads legacy ``.h5`` files Keras 3 cannot."""
    tensorflow()
    return _quiet_import("tf_keras")
