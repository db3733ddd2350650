"""Shared test set-up: quiet TensorFlow, and paths to the test fixtures."""

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("NUMBA_CPU_NAME", "generic")  # as the music plugin sets it (see its __init__)

import pytest  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def toy_recipe_path() -> Path:
    return FIXTURES / "toy.yaml"
