"""The codec: vital-sign series <-> token windows, the ``tokens`` layout.

A series of readings becomes one window: ``bos``, then per reading a heart-rate token and a
systolic token, then ``eos``, then ``pad``. Ids 0, 1 and 2 are ``pad``, ``bos`` and ``eos``;
the heart-rate tokens follow (one per ``heart_rate_step`` bpm over the range seen in
training), then the systolic tokens. Readings are rounded to their step, so the codec loses
at most half a step (nothing at the default 1 bpm; 1 mmHg at 2 mmHg a token). Decoding
reads the tokens in turn (heart rate, systolic, heart rate...) up to ``eos``; a token out
of turn ends the series there, its complete readings kept.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from domaingen.errors import BundleError, DataError
from domaingen.plugin import Codec
from domaingen.spec import DataSpec

__all__ = ["VitalsCodec", "PAD", "BOS", "EOS", "FIRST_READING", "SIGNALS"]

PAD, BOS, EOS = 0, 1, 2
FIRST_READING = 3  # the id of the first heart-rate token
SIGNALS = ("heart_rate", "systolic")  # a reading's tokens, in order
KIND = "vitals-series"  # names this codec in a bundle's codec.json


class VitalsCodec(Codec):
    """Fitted on the training series: each signal's range (lowest and highest bin)."""

    def __init__(self, max_steps: int, steps: dict[str, int], ranges: dict[str, list[int]] | None = None) -> None:
        self.max_steps = int(max_steps)
        self.steps = {s: int(steps[s]) for s in SIGNALS}  # units per token
        self.ranges = {s: [int(v) for v in r] for s, r in (ranges or {}).items()}  # signal -> [low, high]

    @property
    def seq_len(self) -> int:
        return 2 + len(SIGNALS) * self.max_steps

    # --8<-- [start:fit]
    def fit(self, raw: list[dict]) -> "VitalsCodec":
        """The range of each signal, widened to whole steps."""
        for signal in SIGNALS:
            values = [v for series in raw for v in series[signal]]
            if not values:
                raise DataError(f"the vitals codec needs training series with {signal} readings")
            step = self.steps[signal]
            low, high = math.floor(min(values) / step), math.ceil(max(values) / step)
            self.ranges[signal] = [low * step, high * step]
        return self

    def bins(self, signal: str) -> int:
        """How many tokens ``signal`` has."""
        low, high = self.ranges[signal]
        return (high - low) // self.steps[signal] + 1

    def first_id(self, signal: str) -> int:
        """The id of ``signal``'s lowest bin: heart rates first, then systolic values."""
        return FIRST_READING + sum(self.bins(s) for s in SIGNALS[: SIGNALS.index(signal)])
    # --8<-- [end:fit]

    @property
    def spec(self) -> DataSpec:
        """What the model families see: windows of ``seq_len`` ids below ``vocab_size``."""
        return DataSpec(
            "tokens",
            (self.seq_len,),
            vocab_size=FIRST_READING + sum(self.bins(s) for s in SIGNALS),
            special_tokens={"pad": PAD, "bos": BOS, "eos": EOS},
        )

    # --8<-- [start:encode]
    def token(self, signal: str, value: float, where: str) -> int:
        """The id of one reading; a value outside the trained range is a ``DataError``."""
        low, high = self.ranges[signal]
        k = round((value - low) / self.steps[signal])
        if not 0 <= k < self.bins(signal):
            raise DataError(f"{where}: {signal} {value} is outside the trained range {low}-{high}; "
                            "fit the codec on series that have such readings")
        return self.first_id(signal) + k

    def encode(self, raw: list[dict]) -> np.ndarray:
        """``(n, seq_len)`` int32 windows, one per series."""
        x = np.full((len(raw), self.seq_len), PAD, dtype=np.int32)
        for row, series in enumerate(raw):
            lengths = {s: len(series[s]) for s in SIGNALS}
            if len(set(lengths.values())) != 1:
                raise DataError(f"series {row}: its signals have different lengths {lengths}")
            readings = list(zip(*(series[s] for s in SIGNALS)))
            if len(readings) > self.max_steps:
                raise DataError(f"series {row} has {len(readings)} readings; "
                                f"data.options.max_steps is {self.max_steps}: raise it")
            ids = [
                self.token(signal, value, f"series {row}, reading {t}")
                for t, reading in enumerate(readings)
                for signal, value in zip(SIGNALS, reading)
            ]
            x[row, : len(ids) + 2] = [BOS, *ids, EOS]
        return x
    # --8<-- [end:encode]

    # --8<-- [start:decode]
    def decode(self, x: np.ndarray, rng: np.random.Generator, labels=None) -> list[dict]:
        """One series per window: readings in turn up to ``eos`` or a token out of turn."""
        out = []
        for window in np.asarray(x):
            series: dict[str, list[int]] = {s: [] for s in SIGNALS}
            tokens = [t for t in window.tolist() if t != BOS]
            for t in range(0, len(tokens) - 1, len(SIGNALS)):
                reading = tokens[t : t + len(SIGNALS)]
                values = [self.value(signal, token) for signal, token in zip(SIGNALS, reading)]
                if None in values:  # eos, padding, or a token of the wrong signal
                    break
                for s, v in zip(SIGNALS, values):
                    series[s].append(v)
            out.append(series)
        return out

    def value(self, signal: str, token: int) -> int | None:
        """The reading a token stands for, or ``None`` if it is not a ``signal`` token."""
        k = token - self.first_id(signal)
        if not 0 <= k < self.bins(signal):
            return None
        return self.ranges[signal][0] + k * self.steps[signal]
    # --8<-- [end:decode]

    def get_config(self) -> dict[str, Any]:
        """The whole state is JSON: window length, steps and ranges."""
        return {"kind": KIND, "max_steps": self.max_steps, "steps": self.steps, "ranges": self.ranges}

    @classmethod
    def from_config(cls, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> "VitalsCodec":
        if config.get("kind") != KIND:
            raise BundleError(f"codec.json does not describe a {KIND} codec (kind {config.get('kind')!r}); retrain the bundle")
        return cls(config["max_steps"], config["steps"], config["ranges"])
