"""The tabular codec: a DataFrame <-> a float32 matrix of typed segments (layout ``table``).

Per column (in table order):

- numeric / datetime, ``transform: gmm`` (mode-specific normalisation, as in CTGAN/TVAE):
  a Bayesian Gaussian mixture (at most ``max_modes`` modes, modes below
  ``mode_weight_threshold`` weight dropped) is fitted on at most ``codec_fit_rows`` rows;
  a value ``x`` in mode ``k`` becomes ``"<col>.value" = (x - mu_k) / (4 sigma_k)`` (within
  +-1 but for rare outliers) and ``"<col>.mode"`` = one-hot ``k`` (the most probable mode).
- numeric / datetime, ``transform: quantile``: ``"<col>.value"`` = the normal score
  ``Phi^-1(F(x))`` of the empirical CDF ``F`` (1001 stored quantiles, linear between them).
- numeric / datetime under ``train.privacy`` (``fit_private``, privacy.py): the min-max
  transform onto [-1, 1] within the recipe's public ``min``/``max`` (nothing learned).
- categorical: one-hot segment named exactly ``"<col>"``; beyond ``max_categories`` the
  rarest values share one bucket, decoded by sampling the stored rare frequencies.
- boolean: binary segment ``"<col>"``.
- any column with missing values in training: binary ``"<col>.missing"``, except an
  always-missing column (no value at all), which has no segment and decodes all missing.
- missing values that come in blocks (``missing_patterns`` > 0): columns whose missing
  flags are associated (``|phi| >= missing_association``, linked transitively) form a
  group, and the group's joint missing pattern of each row is one categorical segment
  ``"<first column>.missing_pattern"`` (its patterns most frequent first, at most
  ``missing_patterns``), placed where the first column's flag would be. When every
  pattern of the training rows fits, the group's columns have no ``.missing`` flags of
  their own; otherwise the rest share an "other" slot and the columns keep their flags,
  which decide those rows. A group whose kept patterns cover less than half the rows
  falls back to per-column flags. Every family models a categorical segment, so each
  reproduces the joint pattern (a block missing together stays missing together).
- id and constant columns: no segment (ids are generated unique, constants repeated).

Documented loss of ``decode(encode(x))``: numeric values come back within 1e-6 of the
column's standard deviation (gmm) or to within the local spacing of the stored quantiles
(quantile, exact at the 1001 quantiles), then rounded to the column's precision (so
integers and fixed-decimal values are exact); datetimes to the second (or day); values of
the rare bucket are resampled; identifiers are new. Everything else is exact.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from domaingen.cores import usable_cores
from domaingen.errors import DataError
from domaingen.plugin import Codec
from domaingen.spec import DataSpec, Segment

from .columns import ColumnInfo, datetime_to_int, detect_columns, int_to_datetime, parse_bound
from .modes import fit_modes
from .options import DataOptions, FixedCombinationsConstraint, InequalityConstraint, RangeConstraint

__all__ = ["TabularCodec", "combination_keys"]

_FORMAT_VERSION = 1
_QUANTILES = 1001
_MIN_PATTERN_COVERAGE = 0.5  # a missing-pattern segment must cover this share of the rows


def combination_keys(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """One string per row identifying the values of ``columns`` (NaN-safe)."""
    parts = [frame[c].astype(str).to_numpy(dtype=object) for c in columns]
    out = parts[0]
    for p in parts[1:]:
        out = out + "\x1f" + p
    return out


class TabularCodec(Codec):
    """Encodes a DataFrame into the segments listed above; same layout for every family."""

    def __init__(self, options: DataOptions | dict | None = None):
        if options is None:
            options = DataOptions()
        elif isinstance(options, dict):
            options = DataOptions(**options)
        self.options = options
        self.columns_: list[ColumnInfo] = []
        self.transforms_: list[dict[str, Any]] = []
        self.arrays_: dict[str, np.ndarray] = {}
        self.combinations_: list[list[str]] = []
        self.missing_groups_: list[dict[str, Any]] = []
        self._spec: DataSpec | None = None

    # --- fitting --------------------------------------------------------------------------
    def fit(self, raw: pd.DataFrame) -> "TabularCodec":
        if not isinstance(raw, pd.DataFrame) or len(raw) == 0:
            raise DataError("the tabular codec needs a non-empty table to fit")
        self.columns_ = detect_columns(raw, self.options)
        self.arrays_ = {}
        self.transforms_ = []
        rng = np.random.default_rng(0)
        gmm_samples: list[tuple[int, np.ndarray]] = []
        for i, info in enumerate(self.columns_):
            if info.kind not in ("numeric", "datetime"):
                self.transforms_.append({})
                continue
            loc, scale, z = self._fit_sample(info, raw[info.name], rng)
            if self.options.transform == "quantile":
                levels = np.linspace(0.0, 1.0, _QUANTILES)
                self.arrays_[f"quantiles_{i}"] = np.quantile(z, levels).astype(np.float64)
                self.transforms_.append({"transform": "quantile", "loc": loc, "scale": scale})
            else:
                self.transforms_.append({"transform": "gmm", "loc": loc, "scale": scale})
                gmm_samples.append((i, z))
        self._fit_gmm_columns(gmm_samples)
        self.missing_groups_ = self._fit_missing_groups(raw)
        self._check_constraints()
        self.combinations_ = []
        for c in self.options.constraints:
            if isinstance(c, FixedCombinationsConstraint):
                self.combinations_.append(sorted(set(combination_keys(raw, c.columns).tolist())))
        self._spec = self._build_spec()
        if self._spec.width == 0:
            raise DataError(
                "nothing to learn: every column is an identifier or a constant "
                f"({[c.name + ':' + c.kind for c in self.columns_]}); declare column types in data.options.columns"
            )
        return self

    def fit_private(self, raw: pd.DataFrame, privacy: Any) -> "TabularCodec":
        """``fit`` under ``train.privacy``: every column from the recipe's public facts,
        nothing learned from ``raw`` (privacy.py); ``privacy_spent`` says so for meta.json."""
        from .privacy import privacy_report, public_fit

        if not isinstance(raw, pd.DataFrame) or len(raw) == 0:
            raise DataError("the tabular codec needs a non-empty table to fit")
        self.columns_, self.transforms_ = public_fit(raw, self.options)
        self.arrays_, self.missing_groups_, self.combinations_ = {}, [], []
        self._check_constraints()
        self._spec = self._build_spec()
        if self._spec.width == 0:
            raise DataError("nothing to learn: every column is an identifier; declare column types in data.options.columns")
        self.privacy_spent, self.privacy_event = privacy_report(self.columns_), None
        return self

    def _fit_sample(self, info: ColumnInfo, series: pd.Series, rng: np.random.Generator) -> tuple[float, float, np.ndarray]:
        """``loc``, ``scale`` and the standardised finite values (at most ``codec_fit_rows``) of a column."""
        values = self._to_float(info, series)
        values = values[np.isfinite(values)]
        loc = float(values.mean())
        scale = float(values.std()) or 1.0
        z = (values - loc) / scale
        if len(z) > self.options.codec_fit_rows:
            z = rng.choice(z, self.options.codec_fit_rows, replace=False)
        return loc, scale, z

    def _fit_missing_groups(self, raw: pd.DataFrame) -> list[dict[str, Any]]:
        """Groups of columns whose missing values go together, each with its joint missing
        patterns (0/1 per column, most frequent first) and whether an "other" slot is needed."""
        flagged = [c.name for c in self.columns_ if c.has_nan and c.kind != "id" and not c.always_missing]
        if self.options.missing_patterns == 0 or len(flagged) < 2:
            return []
        masks = raw[flagged].isna().to_numpy()
        groups = _associated_groups(masks, self.options.missing_association, self.options.codec_fit_rows)
        taken = set(self.column_names) | {f"{c}.{part}" for c in self.column_names for part in ("value", "mode", "missing")}
        out = []
        for members in groups:
            patterns, counts = _patterns(masks[:, members])
            keep = min(len(patterns), self.options.missing_patterns)
            if counts[:keep].sum() < _MIN_PATTERN_COVERAGE * len(masks):
                continue  # mostly "other": the per-column flags say more
            name = f"{flagged[members[0]]}.missing_pattern"
            while name in taken:
                name += "_"
            taken.add(name)
            out.append({
                "segment": name,
                "columns": [flagged[j] for j in members],
                "patterns": patterns[:keep].astype(int).tolist(),
                "frequencies": (counts[:keep] / len(masks)).tolist(),
                "other": bool(keep < len(patterns)),
            })
        return out

    def _fit_gmm_columns(self, samples: list[tuple[int, np.ndarray]]) -> None:
        """Fit the mode mixtures of all ``gmm`` columns in one batched call."""
        modes = fit_modes([z for _, z in samples], self.options.max_modes, self.options.mode_weight_threshold)
        for (i, z), (means, stds) in zip(samples, modes):
            self.arrays_[f"means_{i}"] = means
            self.arrays_[f"stds_{i}"] = stds
            self.transforms_[i]["default_mode"] = int(np.argmax(_mode_weights(z, means, stds)))

    def _check_constraints(self) -> None:
        kinds = {c.name: c.kind for c in self.columns_}

        def need(col: str, where: str, allowed: tuple[str, ...] | None = None) -> None:
            if col not in kinds:
                raise DataError(f"data.options.constraints ({where}): unknown column {col!r}; columns are {list(kinds)}")
            if allowed and kinds[col] not in allowed:
                raise DataError(
                    f"data.options.constraints ({where}): column {col!r} is {kinds[col]}, "
                    f"the constraint needs {' or '.join(allowed)}"
                )

        for c in self.options.constraints:
            if isinstance(c, RangeConstraint):
                need(c.column, "range", ("numeric", "datetime"))
                info = self.column(c.column)
                lo = parse_bound(c.min, info, "range constraint min")
                hi = parse_bound(c.max, info, "range constraint max")
                if lo is not None and hi is not None and lo > hi:
                    raise DataError(f"data.options.constraints (range): min is above max for column {c.column!r}")
            elif isinstance(c, InequalityConstraint):
                need(c.low, "inequality", ("numeric", "datetime"))
                need(c.high, "inequality", ("numeric", "datetime"))
                if kinds[c.low] != kinds[c.high]:
                    raise DataError(
                        f"data.options.constraints (inequality): {c.low!r} is {kinds[c.low]} and "
                        f"{c.high!r} is {kinds[c.high]}; compare columns of one kind"
                    )
            else:
                for col in c.columns:
                    need(col, "fixed_combinations")

    def _build_spec(self) -> DataSpec:
        segments: list[Segment] = []
        group_of = {col: g for g in self.missing_groups_ for col in g["columns"]}
        for i, info in enumerate(self.columns_):
            group = group_of.get(info.name)
            if group is not None and group["columns"][0] == info.name:
                segments.append(Segment(group["segment"], "categorical", len(group["patterns"]) + int(group["other"])))
            own_flag = group is None or group["other"]
            if info.has_nan and info.kind != "id" and not info.always_missing and own_flag:
                segments.append(Segment(f"{info.name}.missing", "binary", 1))
            if info.kind in ("numeric", "datetime"):
                gmm = self.transforms_[i]["transform"] == "gmm"  # (x - mode mean) / (4 mode std): within [-1, 1]
                bounded = gmm or self.transforms_[i]["transform"] == "minmax"  # public bounds onto [-1, 1]
                placeholder = _placeholder_rule(info, group, own_flag)
                segments.append(Segment(f"{info.name}.value", "continuous", 1, bounded=bounded, **placeholder))
                if gmm:
                    k = len(self.arrays_[f"means_{i}"])
                    if k > 1:
                        segments.append(Segment(f"{info.name}.mode", "categorical", k, auxiliary=True, **placeholder))
            elif info.kind == "categorical":
                segments.append(Segment(info.name, "categorical", self.n_slots(info)))
            elif info.kind == "boolean":
                segments.append(Segment(info.name, "binary", 1))
        return DataSpec(layout="table", shape=(sum(s.size for s in segments),), segments=tuple(segments))

    # --- accessors --------------------------------------------------------------------------
    @property
    def spec(self) -> DataSpec:
        if self._spec is None:
            raise RuntimeError("the codec is not fitted yet")
        return self._spec

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns_]

    def missing_group(self, name: str) -> dict[str, Any] | None:
        """The missing-pattern group (see the module docstring) of column ``name``, if any."""
        for group in self.missing_groups_:
            if name in group["columns"]:
                return group
        return None

    def column(self, name: str) -> ColumnInfo:
        for c in self.columns_:
            if c.name == name:
                return c
        raise KeyError(name)

    @staticmethod
    def n_slots(info: ColumnInfo) -> int:
        """Width of a categorical column's one-hot block (kept categories + rare bucket)."""
        return len(info.categories) + (1 if info.has_rare else 0)

    def _to_float(self, info: ColumnInfo, series: pd.Series) -> np.ndarray:
        if info.kind == "datetime":
            return datetime_to_int(series, info.unit or "s")
        try:
            return pd.to_numeric(series, errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
        except (ValueError, TypeError):
            raise DataError(f"column {info.name!r} should hold numbers but holds {series.dtype} values") from None

    # --- encode -----------------------------------------------------------------------------
    def encode(self, raw: pd.DataFrame) -> np.ndarray:
        missing = [c.name for c in self.columns_ if c.kind not in ("id", "constant") and c.name not in raw.columns]
        if missing:
            raise DataError(f"the table lacks columns {missing} that the codec was fitted on")
        n = len(raw)
        out = np.zeros((n, self.spec.width), dtype=np.float32)
        slices = self.spec.segment_slices()
        for i, info in enumerate(self.columns_):
            if info.kind == "id" or (info.kind == "constant" and not info.has_nan):
                continue
            series = raw[info.name]
            isna = series.isna().to_numpy()
            if f"{info.name}.missing" in slices:  # not for an always-missing column
                out[:, slices[f"{info.name}.missing"]] = isna[:, None]
            if info.kind in ("numeric", "datetime"):
                self._encode_continuous(i, info, series, out, slices)
            elif info.kind == "categorical":
                idx = self._category_index(info, series)
                out[np.arange(n), slices[info.name].start + idx] = 1.0
            elif info.kind == "boolean":
                idx = self._category_index(info, series)
                out[:, slices[info.name].start] = idx
        for group in self.missing_groups_:
            idx = _pattern_index(raw[group["columns"]].isna().to_numpy(), group)
            out[np.arange(n), slices[group["segment"]].start + idx] = 1.0
        return out

    def _encode_continuous(self, i, info, series, out, slices) -> None:
        t = self.transforms_[i]
        z = (self._to_float(info, series) - t["loc"]) / t["scale"]
        finite = np.isfinite(z)
        value = out[:, slices[f"{info.name}.value"].start]
        if t["transform"] == "minmax":  # public bounds (train.privacy): clipped onto [-1, 1], missing at 0
            out[:, slices[f"{info.name}.value"].start] = np.where(finite, np.clip(z, -1.0, 1.0), 0.0)
            return
        if t["transform"] == "quantile":
            q = self.arrays_[f"quantiles_{i}"]
            u = _interp_increasing(np.where(finite, z, 0.0), q, np.linspace(0.0, 1.0, _QUANTILES))
            edge = 0.5 / _QUANTILES  # keep normal scores finite: u -> [edge, 1 - edge], inverted on decode
            u = edge + (1.0 - 2.0 * edge) * np.clip(u, 0.0, 1.0)
            out[:, slices[f"{info.name}.value"].start] = np.where(finite, ndtri(u), 0.0)
            return
        means, stds = self.arrays_[f"means_{i}"], self.arrays_[f"stds_{i}"]
        zf = np.where(finite, z, means[t["default_mode"]])
        mode = _most_probable_mode(zf, means, stds)
        mode[~finite] = t["default_mode"]
        value = (zf - means[mode]) / (4 * stds[mode])  # |value| <= 1 except rare outliers
        out[:, slices[f"{info.name}.value"].start] = value
        if f"{info.name}.mode" in slices:
            out[np.arange(len(z)), slices[f"{info.name}.mode"].start + mode] = 1.0

    def _category_index(self, info: ColumnInfo, series: pd.Series) -> np.ndarray:
        keys = pd.Series(series.to_numpy(dtype=object)).map(_key)
        lookup = {_key(v): j for j, v in enumerate(info.categories)}
        other = len(info.categories) if info.has_rare else 0  # unseen values: rare bucket or first
        return keys.map(lookup).fillna(other).to_numpy(dtype=np.int64)

    # --- decode -----------------------------------------------------------------------------
    def decode(self, x: np.ndarray, rng: np.random.Generator, labels: np.ndarray | None = None) -> pd.DataFrame:
        x = np.asarray(x)  # float32 from the families; slices are widened where needed
        if x.ndim != 2 or x.shape[1] != self.spec.width:
            raise ValueError(f"expected arrays of shape (n, {self.spec.width}), got {x.shape}")
        x = np.asfortranarray(x)  # column by column below: contiguous columns (the neural families' output already is)
        n = len(x)
        slices = self.spec.segment_slices()

        grouped = self._decode_missing_groups(x, slices)

        def missing_of(info: ColumnInfo) -> np.ndarray | None:
            if info.always_missing:
                return np.ones(n, dtype=bool)
            if info.name in grouped:
                return grouped[info.name]
            if f"{info.name}.missing" in slices and info.kind != "id":
                return x[:, slices[f"{info.name}.missing"].start] > 0.5
            return None

        # continuous columns draw no random numbers: decoded side by side (NumPy releases
        # the GIL), in a fixed column order, so the result is the same as one at a time
        continuous = [(i, info) for i, info in enumerate(self.columns_) if info.kind in ("numeric", "datetime")]
        with _column_workers(n, len(continuous)) as pool:
            decoded = pool.map(lambda item: self._decode_continuous(*item, x, slices, missing_of(item[1])), continuous)
            data: dict[str, Any] = {info.name: column for (_, info), column in zip(continuous, decoded)}
        for info in self.columns_:
            missing = missing_of(info)
            if info.kind == "categorical":
                idx = _argmax_columns(x[:, slices[info.name]])
                data[info.name] = self._decode_categories(info, idx, missing, rng)
            elif info.kind == "boolean":
                idx = (x[:, slices[info.name].start] > 0.5).astype(np.int64)
                data[info.name] = self._decode_categories(info, idx, missing, rng)
            elif info.kind == "constant":
                data[info.name] = self._decode_constant(info, n, missing)
            elif info.kind == "id":
                data[info.name] = self._decode_id(info, n, rng)
        return pd.DataFrame(data, columns=self.column_names)

    def _decode_missing_groups(self, x: np.ndarray, slices: dict[str, slice]) -> dict[str, np.ndarray]:
        """Column -> missing mask from each group's pattern segment; rows in the "other"
        slot take the columns' own flags."""
        out: dict[str, np.ndarray] = {}
        for group in self.missing_groups_:
            idx = _argmax_columns(x[:, slices[group["segment"]]]).astype(np.int64)
            patterns = np.asarray(group["patterns"], dtype=bool)
            kept = idx < len(patterns)
            flags = patterns[np.minimum(idx, len(patterns) - 1)]
            for j, col in enumerate(group["columns"]):
                mask = flags[:, j] & kept
                if group["other"]:
                    own = x[:, slices[f"{col}.missing"].start] > 0.5
                    mask = np.where(kept, mask, own)
                out[col] = mask
        return out

    def _decode_continuous(self, i, info, x, slices, missing) -> pd.Series:
        t = self.transforms_[i]
        v = x[:, slices[f"{info.name}.value"].start].astype(np.float64)
        if t["transform"] == "minmax":
            values = np.clip(v, -1.0, 1.0) * t["scale"] + t["loc"]
        elif t["transform"] == "quantile":
            edge = 0.5 / _QUANTILES
            u = np.clip((ndtr(v) - edge) / (1.0 - 2.0 * edge), 0.0, 1.0)
            values = np.interp(u, np.linspace(0.0, 1.0, _QUANTILES), self.arrays_[f"quantiles_{i}"]) * t["scale"] + t["loc"]
        else:
            # x = (v * 4 sigma_k + mu_k) * scale + loc, with each mode's slope and offset folded first
            slope = 4.0 * self.arrays_[f"stds_{i}"] * t["scale"]
            offset = self.arrays_[f"means_{i}"] * t["scale"] + t["loc"]
            if f"{info.name}.mode" in slices:
                mode = _argmax_columns(x[:, slices[f"{info.name}.mode"]])
                values = v * slope[mode]
                values += offset[mode]
            else:
                values = v * slope[0] + offset[0]
        np.clip(values, info.min, info.max, out=values)
        if info.decimals is not None:
            np.round(values, info.decimals, out=values)
        if missing is not None:
            values = np.where(missing, np.nan, values)
        if info.kind == "datetime":
            return _restore_datetime(int_to_datetime(values, info.unit or "s"), info)
        return _restore_dtype(pd.Series(values), info)

    def _decode_categories(self, info, idx, missing, rng) -> pd.Series:
        cats = np.empty(len(info.categories) + 1, dtype=object)
        cats[: len(info.categories)] = info.categories
        cats[-1] = None
        values = cats[np.minimum(idx, len(info.categories))]
        if info.has_rare:
            rare = idx == len(info.categories)
            if rare.any():
                weights = np.asarray(info.rare_weights, dtype=np.float64)
                pool = np.empty(len(info.rare_values), dtype=object)
                pool[:] = info.rare_values
                values[rare] = pool[rng.choice(len(pool), size=int(rare.sum()), p=weights / weights.sum())]
        if missing is not None:
            values[missing] = None
        series = pd.Series(values, dtype=object)
        if info.kind == "boolean" and info.categories == [False, True] and missing is None:
            series = series.astype(bool)
        return _restore_dtype(series, info)

    def _decode_constant(self, info, n, missing) -> pd.Series:
        values = np.empty(n, dtype=object)
        values[:] = info.value
        if missing is not None:
            values[missing] = None
        if info.dtype.startswith("datetime64") and info.value is not None:
            return _restore_datetime(pd.to_datetime(pd.Series(values)).to_numpy().astype("datetime64[s]"), info)
        return _restore_dtype(pd.Series(values, dtype=object), info)

    def _decode_id(self, info, n, rng) -> pd.Series:
        if info.id_numeric:
            ids = _unique_draws(rng, n, 1, 2**62)
            return _restore_dtype(pd.Series(ids), info)
        ids = _unique_draws(rng, n, 0, 16**12)
        text = np.array([f"{info.id_prefix}{v:012x}" for v in ids.tolist()], dtype=object)
        return _restore_dtype(pd.Series(text, dtype=object), info)

    # --- state ------------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        return {
            "format_version": _FORMAT_VERSION,
            "options": self.options.model_dump(mode="json"),
            "columns": [c.to_json() for c in self.columns_],
            "transforms": self.transforms_,
            "combinations": self.combinations_,
            "missing_groups": self.missing_groups_,
            "spec": self.spec.to_json(),
        }

    def get_arrays(self) -> dict[str, np.ndarray]:
        return dict(self.arrays_)

    @classmethod
    def from_config(cls, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> "TabularCodec":
        if config.get("format_version") != _FORMAT_VERSION:
            raise DataError(
                f"tabular codec state has format version {config.get('format_version')!r}; "
                f"this version reads {_FORMAT_VERSION}: retrain the bundle"
            )
        codec = cls(DataOptions(**config["options"]))
        codec.columns_ = [ColumnInfo.from_json(c) for c in config["columns"]]
        codec.transforms_ = list(config["transforms"])
        codec.combinations_ = [list(c) for c in config.get("combinations", [])]
        codec.missing_groups_ = [dict(g) for g in config.get("missing_groups", [])]
        codec.arrays_ = {k: np.asarray(v) for k, v in arrays.items()}
        _check_arrays(codec.transforms_, codec.arrays_)
        codec._spec = DataSpec.from_json(config["spec"])
        return codec


# --- helpers ------------------------------------------------------------------------------------
_TRANSFORM_ARRAYS = {"quantile": ("quantiles",), "gmm": ("means", "stds")}


def _check_arrays(transforms: list[dict[str, Any]], arrays: dict[str, np.ndarray]) -> None:
    """Refuse saved state whose fitted arrays are missing or not finite numbers, so that a
    damaged codec.npz fails when the bundle is opened, not later inside decoding."""
    for i, t in enumerate(transforms):
        for stem in _TRANSFORM_ARRAYS.get(t.get("transform"), ()):
            name = f"{stem}_{i}"
            value = arrays.get(name)
            if value is None:
                raise DataError(f"codec.npz has no array {name!r} for column {i}'s {t['transform']} transform")
            if value.dtype.kind not in "fiu" or value.ndim != 1 or value.size == 0 or not np.all(np.isfinite(value)):
                raise DataError(f"codec.npz array {name!r} is not a non-empty list of finite numbers")


def _key(v: Any) -> Any:
    """Hashable, type-tolerant key so that 3, 3.0 and np.int64(3) match one category."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, (bool, np.bool_)):
        return ("b", bool(v))
    if isinstance(v, (int, float, np.integer, np.floating)):
        return ("n", float(v))
    return ("s", str(v))


def _associated_groups(masks: np.ndarray, threshold: float, max_rows: int) -> list[list[int]]:
    """Groups (of at least two) of the columns of a boolean ``(n, m)`` matrix linked,
    transitively, by ``|phi| >= threshold`` of their flags (phi on at most ``max_rows``
    rows, a fixed subsample), each in column order."""
    if len(masks) > max_rows:
        masks = masks[np.sort(np.random.default_rng(1).choice(len(masks), max_rows, replace=False))]
    with np.errstate(invalid="ignore", divide="ignore"):
        phi = np.nan_to_num(np.corrcoef(masks.astype(np.float64), rowvar=False), nan=0.0)
    parent = list(range(masks.shape[1]))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(np.triu(np.abs(np.atleast_2d(phi)) >= threshold, k=1))):
        parent[root(int(j))] = root(int(i))
    groups: dict[int, list[int]] = {}
    for i in range(masks.shape[1]):
        groups.setdefault(root(i), []).append(i)
    return [g for g in groups.values() if len(g) > 1]


def _patterns(masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of a boolean matrix (most frequent first, ties in a fixed order)
    and their counts."""
    patterns, counts = np.unique(masks, axis=0, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    return patterns[order], counts[order]


def _placeholder_rule(info: ColumnInfo, group: dict[str, Any] | None, own_flag: bool) -> dict[str, Any]:
    """``Segment.missing_when`` / ``missing_codes`` of a number's segments: the rows where
    its value segment holds the encoder's placeholder (its own ``.missing`` flag is 1, or
    the group's pattern is one where it is missing). In the training rows the own flag,
    where there is one, is exactly the column's missing mask."""
    if not info.has_nan or info.always_missing:
        return {}
    if own_flag:
        return {"missing_when": f"{info.name}.missing", "missing_codes": (1,)}
    j = group["columns"].index(info.name)
    codes = tuple(k for k, pattern in enumerate(group["patterns"]) if pattern[j])
    return {"missing_when": group["segment"], "missing_codes": codes} if codes else {}


def _pattern_index(masks: np.ndarray, group: dict[str, Any]) -> np.ndarray:
    """Each row's slot in a missing-pattern segment: its kept pattern, else the "other" slot,
    else (every training pattern kept, a new one in these rows) the nearest kept pattern
    in Hamming distance (the more frequent on ties)."""
    patterns = np.asarray(group["patterns"], dtype=bool)
    unique, inverse = np.unique(masks, axis=0, return_inverse=True)
    distance = (unique[:, None, :] != patterns[None, :, :]).sum(axis=2)  # (distinct rows, kept patterns)
    slot = np.argmin(distance, axis=1)  # first minimum: the more frequent pattern
    if group["other"]:
        slot = np.where(distance[np.arange(len(unique)), slot] == 0, slot, len(patterns))
    return slot[np.asarray(inverse).reshape(-1)]


def _log_densities(z: np.ndarray, means: np.ndarray, stds: np.ndarray) -> np.ndarray:
    return -0.5 * ((z[:, None] - means[None, :]) / stds[None, :]) ** 2 - np.log(stds)[None, :]


def _mode_weights(z: np.ndarray, means: np.ndarray, stds: np.ndarray) -> np.ndarray:
    return np.bincount(_most_probable_mode(z, means, stds), minlength=len(means)).astype(np.float64)


def _most_probable_mode(z: np.ndarray, means: np.ndarray, stds: np.ndarray) -> np.ndarray:
    out = np.empty(len(z), dtype=np.int64)
    for start in range(0, len(z), 200_000):  # bounded memory for very long columns
        chunk = z[start:start + 200_000]
        out[start:start + len(chunk)] = np.argmax(_log_densities(chunk, means, stds), axis=1)
    return out


def _interp_increasing(x: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """``np.interp`` that maps a run of equal quantiles (an atom) to the middle of its run."""
    out = np.interp(x, xp, fp)
    lo = np.searchsorted(xp, x, side="left")
    hi = np.searchsorted(xp, x, side="right")
    atom = hi - lo > 1
    return np.where(atom, (lo + hi - 1) / 2.0 / (len(xp) - 1), out)


def _unique_draws(rng: np.random.Generator, n: int, low: int, high: int) -> np.ndarray:
    out = rng.integers(low, high, size=n, dtype=np.int64)
    while True:
        _, first = np.unique(out, return_index=True)
        if len(first) == n:
            return out
        dup = np.ones(n, dtype=bool)
        dup[first] = False
        out[dup] = rng.integers(low, high, size=int(dup.sum()), dtype=np.int64)


PARALLEL_DECODE_ROWS = 20_000  # below this, a thread pool costs more than it saves


def _column_workers(n_rows: int, n_columns: int):
    """A pool that decodes columns on every usable core for large tables, else a
    stand-in that maps in the calling thread."""
    workers = min(usable_cores(), n_columns)
    if n_rows < PARALLEL_DECODE_ROWS or workers < 2:
        return _InThread()
    return ThreadPoolExecutor(max_workers=workers)


class _InThread:
    """``ThreadPoolExecutor``'s ``map`` and context manager, run in the calling thread."""

    def __enter__(self) -> "_InThread":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    @staticmethod
    def map(fn, items):
        return [fn(item) for item in items]


def _argmax_columns(block: np.ndarray) -> np.ndarray:
    """``np.argmax(block, axis=1)`` for finite values (first maximum), one column at a time: on a
    column-major block each step reads one contiguous column. The running index is updated
    by arithmetic on the narrowest integer type that holds it, in preallocated arrays:
    boolean-mask assignment (``idx[mask] = j``) costs 30x a comparison, and this whole
    loop is ~10x faster than NumPy's argmax across a short row of strided values."""
    n, k = block.shape
    dtype = np.int8 if k <= np.iinfo(np.int8).max else np.int16 if k <= np.iinfo(np.int16).max else np.int32
    idx = np.zeros(n, dtype=dtype)
    if k == 1:
        return idx
    best = block[:, 0].copy()
    above = np.empty(n, dtype=bool)
    step = np.empty(n, dtype=dtype)
    for j in range(1, k):
        column = block[:, j]
        np.greater(column, best, out=above)
        np.subtract(dtype(j), idx, out=step)  # idx becomes j where the column is above the best
        np.multiply(step, above, out=step)
        np.add(idx, step, out=idx)
        np.maximum(best, column, out=best)
    return idx


def _restore_dtype(series: pd.Series, info: ColumnInfo) -> pd.Series:
    """Cast generated values back to the column's original dtype where it can hold them."""
    try:
        dtype = pd.api.types.pandas_dtype(info.dtype)
    except TypeError:
        return series
    has_na = bool(series.isna().any())
    try:
        if isinstance(dtype, pd.CategoricalDtype):
            if info.kind == "constant":
                cats = [info.value] if info.value is not None else []
            else:
                cats = [c for c in list(info.categories) + list(info.rare_values) if c is not None]
            return series.astype(pd.CategoricalDtype(categories=pd.Index(cats).unique()))
        if isinstance(dtype, np.dtype):
            if dtype.kind == "O":
                return series.astype(object)
            if has_na and dtype.kind in "iu":
                return series.astype(np.float64)  # what pandas itself uses for ints with gaps
            if has_na and dtype.kind == "b":
                return series.astype(object)
        return series.astype(dtype)  # numpy dtypes and pandas' nullable Int64 / boolean / string
    except (TypeError, ValueError):
        return series


def _restore_datetime(values: np.ndarray, info: ColumnInfo) -> pd.Series:
    series = pd.Series(values.astype("datetime64[s]"))
    unit = info.dtype.split("[")[-1].rstrip("]").split(",")[0] if "[" in info.dtype else "s"
    if unit in ("ns", "us", "ms") and info.min is not None:
        try:
            series = series.astype(f"datetime64[{unit}]")
        except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime):
            pass
    if info.tz:
        series = series.dt.tz_localize("UTC").dt.tz_convert(info.tz)
    return series
