"""Import Keras (and TensorFlow behind it) without flooding the user's terminal.

TensorFlow's C++ runtime logs at import through absl, before TF_CPP_MIN_LOG_LEVEL is
read for some messages; we set the variables and silence file descriptor 2 for the
duration of the import only.
"""

from __future__ import annotations

import contextlib
import os
import sys

__all__ = ["keras_module", "silenced_stderr"]

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")


@contextlib.contextmanager
def silenced_stderr():
    """Redirect the process-level stderr (fd 2) to /dev/null while the block runs."""
    if os.environ.get("DOMAINGEN_DEBUG"):
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd (embedded interpreters, some test runners)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def keras_module():
    """Return the ``keras`` module, importing its backend quietly the first time."""
    if "keras" in sys.modules:
        return sys.modules["keras"]
    with silenced_stderr():
        if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
            import tensorflow  # noqa: F401  (import under the silencer)
        import keras
    return keras
