"""The conformance suite (domaingen.testing) on the toy fixture plugin, and proof that
each check catches the broken plugin it is meant to catch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from domaingen_toy.plugin import ToyCodec, ToyPlugin

from domaingen.plugin import Metric
from domaingen.testing import CHECKS, Conformance, conformance_tests

RECIPE = {
    "schema_version": 1,
    "seed": 3,
    "data": {"plugin": "toy", "source": "toy:gaussian", "options": {"rows": 300}},
    "model": {"family": "toy-gauss"},
    "train": {"epochs": 1},
    "generate": {"n": 250, "batch_size": 100, "shard_size": 100},
}


def _close(original, decoded) -> None:
    a = np.array([[r["x"], r["y"]] for r in original])
    b = np.array([[r["x"], r["y"]] for r in decoded])
    assert np.allclose(a, b, atol=1e-5) and [r["c"] for r in original] == [r["c"] for r in decoded]


def _refused(folder: Path):
    bad = folder / "broken.jsonl"
    bad.write_text('{"x": 1.0, "y": \n', encoding="utf-8")
    return [(str(bad), {})]


def toy_case(plugin=None) -> Conformance:
    return Conformance(plugin or ToyPlugin(), RECIPE, round_trip=_close, refused_inputs=_refused)


test_toy_conformance = conformance_tests(toy_case)


# --- each check fails on a plugin that breaks its contract -------------------------------
class LooseOptions(ToyPlugin):
    from pydantic import BaseModel as _Base

    class DataOptions(_Base):  # not a StrictModel: unknown keys pass silently
        rows: int = 2000
        seed: int = 0


class LossyCodec(ToyCodec):
    def decode(self, x, rng):
        return super().decode(x, rng)[:-1]


class LossyPlugin(ToyPlugin):
    def make_codec(self, options, layout):
        return LossyCodec()


class ObjectArrays(ToyCodec):
    def get_arrays(self):
        return {**super().get_arrays(), "names": np.array(["x", None], dtype=object)}


class ObjectArraysPlugin(ToyPlugin):
    def make_codec(self, options, layout):
        return ObjectArrays()


class DirectWriter(ToyPlugin):
    def write(self, raw, stem, fmt, options):
        path = Path(f"{stem}.jsonl")
        with open(path, "w", encoding="utf-8") as fh:
            for k, r in enumerate(raw):
                if k == 10:
                    import os

                    os.replace(path, path)  # stands for a failure part-way through a plain write
                fh.write(json.dumps(r) + "\n")
        return [path]


class Undocumented(ToyPlugin):
    def metrics(self):
        return [Metric("mean_error", "smaller", "")]


class Unseeded(ToyPlugin):
    def write(self, raw, stem, fmt, options):
        raw = [{**r, "noise": float(np.random.default_rng().random())} for r in raw]
        return super().write(raw, stem, fmt, options)


class RawErrors(ToyPlugin):
    def read(self, paths):
        return [json.loads(line) for p in paths for line in Path(p).read_text().splitlines()]


@pytest.mark.parametrize(
    "plugin, check",
    [
        (LooseOptions(), "options_strict"),
        (LossyPlugin(), "codec_round_trip"),
        (ObjectArraysPlugin(), "codec_state"),
        (DirectWriter(), "write_read"),
        (Undocumented(), "metrics_documented"),
        (Unseeded(), "reproducible"),
        (RawErrors(), "bad_inputs"),
    ],
    ids=lambda v: v if isinstance(v, str) else type(v).__name__,
)
def test_each_check_catches_its_broken_plugin(plugin, check, tmp_path, monkeypatch):
    assert check in CHECKS
    from domaingen import registry

    real = registry.get_plugin
    monkeypatch.setattr(registry, "get_plugin", lambda name: plugin if name == "toy" else real(name))
    with pytest.raises(AssertionError):
        getattr(toy_case(plugin), check)(tmp_path)
