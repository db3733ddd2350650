"""Shared test set-up: quiet TensorFlow, and paths to the test fixtures."""

import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("NUMBA_CPU_NAME", "generic")  # as the music plugin sets it (see its __init__)
# numba's on-disk cache is not safe for processes that compile the same gufunc at once:
# mismatched cache files segfault the next process that loads them (numba issue #10128;
# it crashed librosa's pYIN in a fresh CI install). Each pytest-xdist worker caches alone.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("NUMBA_CACHE_DIR", tempfile.mkdtemp(prefix=f"numba-{os.environ['PYTEST_XDIST_WORKER']}-"))

import pytest  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parents[1]


def pytest_addoption(parser):
    """Options of the fuzz suite (tests/fuzz), registered here: only the root conftest's
    options are known on the command line."""
    group = parser.getgroup("fuzz", "domaingen fuzz suite (tests/fuzz)")
    group.addoption("--fuzz-cases", default=None, help="fuzz cases in all (default 120; env DOMAINGEN_FUZZ_CASES)")
    group.addoption("--fuzz-seed", default=None, help="seed of the fuzz cases (default 14; env DOMAINGEN_FUZZ_SEED)")


@pytest.fixture
def toy_recipe_path() -> Path:
    return FIXTURES / "toy.yaml"
