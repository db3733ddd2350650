"""Import Keras (and TensorFlow behind it) without flooding the user's terminal.

TensorFlow's C++ runtime logs at import through absl, before TF_CPP_MIN_LOG_LEVEL is
read for some messages; we set the variables and silence file descriptor 2 for the
duration of the import only.
"""

from __future__ import annotations

import contextlib
import os
import sys

from .cores import usable_cores

__all__ = ["keras_module", "silenced_stderr"]

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")


# On a machine with one or two cores TensorFlow's intra-op thread pool costs more than it
# gives: training steps of small batches are dominated by per-op dispatch, and with one
# intra-op thread (independent ops still run side by side on the inter-op threads) a VAE
# step took 1.45 ms instead of 2.05 ms, a GAN step 11.9 instead of 14.8 ms, and sampling
# was no slower (2 cores, breast cancer / diabetes). A value set by the user wins.
if usable_cores() <= 2:
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")


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
        import keras  # imports its backend (TensorFlow, JAX, torch) under the silencer
    return keras
