"""Quality, diagnostic, privacy and ML-efficacy metrics for tables (SDMetrics names and formulas).

Every function takes pandas objects and returns plain floats (NaN where undefined). The
formulas are listed in ``METRICS`` (shown by ``metrics()`` and docs/plugins/tabular.md).
Big tables are subsampled as documented there; no function builds an all-pairs matrix.

Before scoring, ``conform_synthetic`` compares the synthetic table's schema with the real
one: a missing real column is refused (``DataError``); extra columns, values that are not
numbers (or dates) in a numeric (datetime) column and categories the real column never
holds are counted in the report's ``schema`` section with a warning each; always-missing
real columns are listed there and not scored.

The report states the column types it scored with (``types``: per column numerical /
categorical / boolean / datetime / id / always-missing, with numeric codes read as
categories marked ``coded``) beside the types SDV's ``Metadata.detect_from_dataframe``
gives the same table (``sdv_sdtypes``, its rules reproduced without installing SDV), and
scores the quality a second time with SDV's types where they differ
(``quality_score_sdv_types``: what SDMetrics' QualityReport sees with SDV's metadata).
"""

from __future__ import annotations

import copy
import itertools
import math
import re
from typing import Any

import numpy as np
import pandas as pd

from domaingen.plugin import Metric

from .columns import datetime_to_int, detect_columns
from .options import DataOptions, EvaluateOptions

__all__ = [
    "METRICS",
    "sdtypes",
    "quality_score",
    "sdv_sdtypes",
    "sdv_metadata",
    "column_type_table",
    "ks_complement",
    "tv_complement",
    "correlation_similarity",
    "contingency_similarity",
    "boundary_adherence",
    "category_adherence",
    "quality_report",
    "diagnostics",
    "dcr",
    "dcr_baseline_protection",
    "dcr_overfitting_protection",
    "exact_copy_rate",
    "ml_efficacy",
    "conform_synthetic",
    "evaluate_tables",
]

METRICS = [
    Metric("quality_score", "higher-is-better",
           "mean(Column Shapes, Column Pair Trends), as SDMetrics' QualityReport; in [0, 1]"),
    Metric("Column Shapes", "higher-is-better",
           "mean over columns of KSComplement (numeric, datetime) or TVComplement (categorical, boolean)"),
    Metric("KSComplement", "higher-is-better",
           "1 - max_x |F_real(x) - F_syn(x)| (two-sample Kolmogorov-Smirnov D; missing values dropped)"),
    Metric("TVComplement", "higher-is-better",
           "1 - 1/2 * sum_c |p_real(c) - p_syn(c)| over the categories c of either table (missing dropped)"),
    Metric("Column Pair Trends", "higher-is-better",
           "mean over column pairs of CorrelationSimilarity (both numeric/datetime) or ContingencySimilarity "
           "(otherwise; numeric columns binned into 10 bins of the real column), counting, as SDMetrics, only "
           "pairs with a real trend: |r_real| > 0.5 or Cramér's V > 0.3 (options real_*_threshold)"),
    Metric("CorrelationSimilarity", "higher-is-better",
           "1 - |r_real - r_syn| / 2 with r the Pearson correlation of the pair (rows with a missing value dropped)"),
    Metric("ContingencySimilarity", "higher-is-better",
           "1 - 1/2 * sum_(a,b) |p_real(a,b) - p_syn(a,b)| over the joint categories (missing = a category)"),
    Metric("BoundaryAdherence", "higher-is-better",
           "share of synthetic values inside [min, max] of the real column (mean over numeric/datetime columns)"),
    Metric("CategoryAdherence", "higher-is-better",
           "share of synthetic values that are categories of the real column (mean over categorical/boolean columns)"),
    Metric("DCR", "informative",
           "distance to closest record: min over real rows of mean over columns of d_col, d_col = |a-b|/range "
           "(numeric, datetime; range of the real reference) or [a != b] (categorical); missing vs value = 1"),
    Metric("DCRBaselineProtection", "higher-is-better",
           "min(1, median DCR(synthetic -> real) / median DCR(uniform random table -> real))"),
    Metric("DCROverfittingProtection", "higher-is-better",
           "min(1, (1 - p) / (1 - p0)), p = share of synthetic rows closer to the training rows than to the "
           "holdout rows, p0 = n_train / (n_train + n_holdout) its value without overfitting (SDMetrics: "
           "equal sizes, p0 = 1/2, score = min(1, 2 (1 - p))); both DCRs use the ranges of training + holdout"),
    Metric("exact_copy_rate", "lower-is-better",
           "share of synthetic rows equal, in every non-identifier column, to some training row"),
    Metric("privacy_score", "higher-is-better",
           "mean(DCRBaselineProtection, DCROverfittingProtection) (the first alone without a holdout)"),
    Metric("ml_efficacy.real", "informative",
           "score on the holdout of a gradient-boosting model trained on the real training rows "
           "(classification: macro F1, accuracy also reported; regression: R^2)"),
    Metric("ml_efficacy.synthetic", "higher-is-better",
           "the same score for the same model trained on the synthetic rows"),
    Metric("ml_efficacy.ratio", "higher-is-better", "ml_efficacy.synthetic / ml_efficacy.real (1 = as useful as real)"),
]

_CONTINUOUS = ("numerical", "datetime")
_DISCRETE = ("categorical", "boolean")


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _mean(values) -> float:
    arr = np.asarray([v for v in values if v is not None], dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    return float(arr.mean()) if len(arr) else float("nan")


# --- column types ---------------------------------------------------------------------------------
def _column_infos(real: pd.DataFrame, column_types: dict[str, str] | None = None):
    """The codec's column detection on the real table, with ``evaluate.options.column_types``."""
    overrides = {k: {"type": v} for k, v in (column_types or {}).items()}
    return detect_columns(real, DataOptions(columns=overrides))


def sdtypes(real: pd.DataFrame, column_types: dict[str, str] | None = None, infos=None) -> dict[str, str]:
    """SDMetrics sdtype of each real column (``id`` columns are left out of every metric);
    ``infos``: ``_column_infos``' result when the caller has it."""
    out = {}
    for info in infos if infos is not None else _column_infos(real, column_types):
        if info.kind == "id":
            continue
        if info.kind == "constant":
            s = real[info.name]
            kind = "datetime" if pd.api.types.is_datetime64_any_dtype(s.dtype) else (
                "numerical" if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype) else "categorical")
        else:
            kind = {"numeric": "numerical"}.get(info.kind, info.kind)
        out[info.name] = kind
    return out


# SDV's own detection, as ``sdv.metadata.Metadata.detect_from_dataframe`` runs it (SDV 1.x,
# sdv/metadata/single_table.py: ``_detect_columns``, ``_detect_sdtype_and_primary_key``,
# ``_detect_pii_column``, ``_detect_id_column``, ``_determine_sdtype_for_numbers`` /
# ``_for_objects``, ``_select_primary_key``). SDV is not a dependency (it pulls in torch).
_SDV_PII = {
    "phonenumber": "phone_number", "email": "email", "ssn": "ssn", "firstname": "first_name",
    "lastname": "last_name", "countrycode": "country_code", "administativeunit": "administrative_unit",
    "state": "administrative_unit", "province": "administrative_unit", "stateabbr": "state_abbr",
    "city": "city", "postalcode": "postcode", "zipcode": "postcode", "postcode": "postcode",
    "streetaddress": "street_address", "line1": "street_address", "secondaryaddress": "secondary_address",
    "line2": "secondary_address", "latitude": "latitude", "longitude": "longitude", "ipv4": "ipv4_address",
    "ipv4address": "ipv4_address", "ipv6": "ipv6_address", "ipv6address": "ipv6_address",
    "ipaddress": "ipv6_address", "macaddress": "mac_address", "useragent": "user_agent_string",
    "useragentstring": "user_agent_string", "iban": "iban", "swift": "swift11", "swift11": "swift11",
    "swift8": "swift8", "creditcardnumber": "credit_card_number", "vin": "vin",
    "licenseplate": "license_plate", "license": "license_plate",
}
_SDV_TOKEN_ONLY = {"ssn", "administrative_unit", "city", "vin"}  # matched as whole name tokens only
_SDV_MIN_ROWS = 5  # SDV's _MIN_ROWS_FOR_PREDICTION
_SDV_SCORED = ("numerical", "categorical", "boolean", "datetime")  # what SDMetrics' QualityReport scores


def _sdv_tokens(name: str) -> list[str]:
    """SDV's ``_tokenize_column_name``: split on space, '-' and '_', else on camelCase."""
    tokens = name.replace(" ", "_").replace("-", "_").split("_")
    if len(tokens) == 1:
        tokens = []
        if name.upper() != name and name[1:].lower() != name[1:]:
            tokens = re.findall("[A-Z][^A-Z]*", name)
    return [t.lower() for t in (tokens or [name])]


def _sdv_name_sdtype(name: str) -> str | None:
    """SDV's PII sdtype from a column name (substring, or whole token for ambiguous ones), or
    ``id`` when a name token is ``id``."""
    cleaned = re.sub(r"[^a-zA-Z0-9]", "", name.lower())
    for reference, sdtype in _SDV_PII.items():
        if sdtype not in _SDV_TOKEN_ONLY and reference in cleaned:
            return sdtype
    tokens = _sdv_tokens(name)
    for reference, sdtype in _SDV_PII.items():
        if sdtype in _SDV_TOKEN_ONLY and reference in tokens:
            return sdtype
    return "id" if "id" in tokens else None


def _sdv_number_sdtype(data: pd.Series, unique_complete: bool) -> tuple[str, bool]:
    """SDV's ``_determine_sdtype_for_numbers``: categorical when (more than 5 rows) every
    value is a whole, non-negative number and there are at most ``min(round(n / 10), 10)``
    distinct values; a primary-key candidate when also unique and complete."""
    if len(data) <= _SDV_MIN_ROWS:
        return "numerical", False
    present = data.dropna()
    if present.empty:
        return "numerical", False
    values = present.to_numpy(dtype=np.float64)
    whole = bool(np.all(values == np.round(values)))
    positive = bool(np.all(values >= 0))
    few = data.nunique() <= min(round(len(data) / 10), 10)
    return ("categorical" if whole and positive and few else "numerical"), unique_complete and whole and positive


def _sdv_object_sdtype(data: pd.Series, unique_complete: bool) -> tuple[str, bool]:
    """SDV's ``_determine_sdtype_for_objects``: categorical, or datetime when every value
    parses as a date (SDV guesses a strftime format; ISO 8601 parsing stands in for it);
    a primary-key candidate when categorical, unique and complete (more than 5 rows)."""
    present = data.dropna()
    sdtype = "categorical"
    if len(present) and all(isinstance(v, str) for v in present.iloc[:100]):
        parsed = pd.to_datetime(present, format="ISO8601", errors="coerce")
        if parsed.notna().all():
            sdtype = "datetime"
    return sdtype, len(data) > _SDV_MIN_ROWS and sdtype == "categorical" and unique_complete


def sdv_sdtypes(frame: pd.DataFrame) -> dict[str, str]:
    """The sdtype SDV's ``Metadata.detect_from_dataframe`` gives each column (rules above):
    a PII or ``id`` name first; else booleans are categorical, datetimes datetime, numbers
    by ``_sdv_number_sdtype``, objects by ``_sdv_object_sdtype``; the first primary-key
    candidate becomes ``id`` (else the first unique, complete PII-named column is the key)."""
    out: dict[str, str] = {}
    candidates: list[str] = []
    for col in frame.columns:
        data = frame[col]
        unique_complete = bool(data.is_unique and not data.isna().any())
        sdtype = _sdv_name_sdtype(str(col))
        candidate = False
        if sdtype is None:
            kind = data.dropna().infer_objects().dtype.kind
            if kind == "b":
                sdtype = "categorical"
            elif kind == "M":
                sdtype = "datetime"
            elif kind in "iuf":
                sdtype, candidate = _sdv_number_sdtype(data, unique_complete)
            else:
                sdtype, candidate = _sdv_object_sdtype(data, unique_complete)
        elif sdtype == "id" and unique_complete:
            candidate = True
        if candidate:
            candidates.append(col)
        out[col] = sdtype
    if candidates:
        out[candidates[0]] = "id"
    return out


def sdv_metadata(frame: pd.DataFrame) -> dict[str, Any]:
    """The SDMetrics metadata dict SDV would detect for ``frame`` (``sdv_sdtypes``)."""
    return {"columns": {col: {"sdtype": t} for col, t in sdv_sdtypes(frame).items()}}


def _scoring(sdtype: str) -> str:
    """How a type is scored: ``continuous`` (KSComplement), ``discrete`` (TVComplement) or ``none``."""
    if sdtype in _CONTINUOUS:
        return "continuous"
    return "discrete" if sdtype in _DISCRETE else "none"


def column_type_table(real: pd.DataFrame, column_types: dict[str, str] | None,
                      always_missing: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """The report's ``types`` section: per real column the type it is scored with
    (numerical, categorical, boolean, datetime, id or always-missing), whether it is
    numeric codes read as categories (``coded``, with ``ordinal``), whether
    ``evaluate.options.column_types`` forced it, and SDV's detected sdtype; ``differ_from_sdv``
    lists the columns SDMetrics would score another way with SDV's metadata."""
    detected = _column_infos(real, column_types)
    ours = sdtypes(real, column_types, detected)
    infos = {info.name: info for info in detected}
    sdv = sdv_sdtypes(real)
    columns, differ = {}, {}
    for col in real.columns:
        info = infos[col]
        scored = "always-missing" if col in always_missing or info.always_missing else ours.get(col, "id")
        columns[col] = {"type": scored, "coded": bool(info.coded), "ordinal": bool(info.ordinal),
                        "forced": col in (column_types or {}), "sdv": sdv[col]}
        if _scoring(scored) != _scoring(sdv[col]):
            differ[col] = {"domaingen": scored, "sdv": sdv[col]}
    return {"scored_with": "domaingen", "columns": columns, "differ_from_sdv": differ,
            "coded_columns": [c for c, d in columns.items() if d["coded"]]}


def _sdv_scored_types(real: pd.DataFrame, table: dict[str, Any]) -> dict[str, str]:
    """The columns SDMetrics scores with SDV's metadata and their types (always-missing ones left out)."""
    return {col: d["sdv"] for col, d in table["columns"].items()
            if d["sdv"] in _SDV_SCORED and d["type"] != "always-missing"}


def _numbers(series: pd.Series) -> np.ndarray:
    """Float values of a numeric or datetime column (datetimes in seconds), NaN for missing."""
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return datetime_to_int(series, "s")
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _labels(series: pd.Series) -> pd.Series:
    """Comparable category labels (missing -> None)."""
    values = series.astype(object)
    return values.where(series.notna(), None)


# --- column shapes ---------------------------------------------------------------------------------
def ks_complement(real: pd.Series, synthetic: pd.Series) -> float:
    """1 - Kolmogorov-Smirnov D between the two empirical CDFs (missing values dropped)."""
    a, b = _numbers(real), _numbers(synthetic)
    a, b = np.sort(a[np.isfinite(a)]), np.sort(b[np.isfinite(b)])
    if len(a) == 0 or len(b) == 0:
        return float("nan")
    points = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, points, side="right") / len(a)
    cdf_b = np.searchsorted(b, points, side="right") / len(b)
    return float(1.0 - np.max(np.abs(cdf_a - cdf_b)))


def _frequencies(series: pd.Series, dropna: bool = True) -> pd.Series:
    return _labels(series).value_counts(normalize=True, dropna=dropna)


def tv_complement(real: pd.Series, synthetic: pd.Series) -> float:
    """1 - total variation distance between the category frequencies (missing dropped)."""
    if real.notna().sum() == 0 or synthetic.notna().sum() == 0:
        return float("nan")
    p, q = _frequencies(real), _frequencies(synthetic)
    both = pd.concat([p, q], axis=1).fillna(0.0).to_numpy()
    return float(1.0 - 0.5 * np.abs(both[:, 0] - both[:, 1]).sum())


# --- column pair trends ---------------------------------------------------------------------------
def correlation_similarity(real: pd.DataFrame, synthetic: pd.DataFrame) -> tuple[float, float, float]:
    """(score, r_real, r_syn) for a pair of continuous columns; NaN where a side is constant."""
    r = _pearson(_numbers(real.iloc[:, 0]), _numbers(real.iloc[:, 1]))
    s = _pearson(_numbers(synthetic.iloc[:, 0]), _numbers(synthetic.iloc[:, 1]))
    score = 1.0 - abs(r - s) / 2.0 if np.isfinite(r) and np.isfinite(s) else float("nan")
    return float(score), float(r), float(s)


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 2:
        return float("nan")
    x, y = x - x.mean(), y - y.mean()
    denom = math.sqrt(float((x * x).sum()) * float((y * y).sum()))
    return float((x * y).sum() / denom) if denom > 0 else float("nan")


def _bin_edges(real_values: np.ndarray, bins: int = 10) -> np.ndarray:
    finite = real_values[np.isfinite(real_values)]
    edges = np.histogram_bin_edges(finite, bins=bins) if len(finite) else np.array([0.0, 1.0])
    edges[0], edges[-1] = -np.inf, np.inf
    return edges


def _discrete_codes(real: pd.Series, synthetic: pd.Series, continuous: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """Integer codes of a column in both tables (numeric binned on the real column's edges)."""
    if continuous:
        a, b = _numbers(real), _numbers(synthetic)
        edges = _bin_edges(a)
        return np.digitize(a, edges), np.digitize(b, edges), len(edges) + 1
    joined = pd.concat([_labels(real), _labels(synthetic)], ignore_index=True)
    codes, uniques = pd.factorize(joined, use_na_sentinel=False)
    return codes[: len(real)], codes[len(real):], max(len(uniques), 1)


def _contingency_from_codes(ra, rb, sa, sb, kb) -> float:
    p = np.bincount(ra * kb + rb) / len(ra)
    q = np.bincount(sa * kb + sb) / len(sa)
    size = max(len(p), len(q))
    p, q = np.pad(p, (0, size - len(p))), np.pad(q, (0, size - len(q)))
    return float(1.0 - 0.5 * np.abs(p - q).sum())


def contingency_similarity(real: pd.DataFrame, synthetic: pd.DataFrame, continuous: tuple[bool, bool] = (False, False)) -> float:
    """1 - total variation distance of the joint frequencies of a column pair."""
    ra, sa, _ = _discrete_codes(real.iloc[:, 0], synthetic.iloc[:, 0], continuous[0])
    rb, sb, kb = _discrete_codes(real.iloc[:, 1], synthetic.iloc[:, 1], continuous[1])
    return _contingency_from_codes(ra, rb, sa, sb, kb)


def _subsample(frame: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    if len(frame) <= n:
        return frame
    return frame.iloc[np.sort(rng.choice(len(frame), n, replace=False))].reset_index(drop=True)


def _cramers_v(a: np.ndarray, b: np.ndarray) -> float:
    """Cramér's V of two code arrays (NaN when a side has a single value)."""
    from scipy.stats.contingency import association

    _, ia = np.unique(a, return_inverse=True)
    _, ib = np.unique(b, return_inverse=True)
    table = np.zeros((ia.max() + 1, ib.max() + 1), dtype=np.int64)
    np.add.at(table, (ia, ib), 1)
    if min(table.shape) < 2:
        return float("nan")
    with np.errstate(all="ignore"):
        return float(association(table, method="cramer"))


def quality_report(real: pd.DataFrame, synthetic: pd.DataFrame, types: dict[str, str],
                   rng: np.random.Generator, max_rows: int = 50_000,
                   correlation_threshold: float = 0.5, association_threshold: float = 0.3) -> dict[str, Any]:
    """Column Shapes, Column Pair Trends and their mean, with per-column / per-pair details.

    As in SDMetrics' QualityReport, a pair counts towards Column Pair Trends only when the
    real table shows a trend: |Pearson r| > ``correlation_threshold`` for two continuous
    columns, Cramér's V > ``association_threshold`` otherwise (0 counts every pair)."""
    shapes = {}
    for col, kind in types.items():
        if kind in _CONTINUOUS:
            shapes[col] = {"metric": "KSComplement", "score": ks_complement(real[col], synthetic[col])}
        else:
            shapes[col] = {"metric": "TVComplement", "score": tv_complement(real[col], synthetic[col])}
    r, s = _subsample(real, max_rows, rng), _subsample(synthetic, max_rows, rng)
    codes = {
        col: _discrete_codes(r[col], s[col], kind in _CONTINUOUS) for col, kind in types.items()
    }
    numbers = {col: (_numbers(r[col]), _numbers(s[col])) for col, kind in types.items() if kind in _CONTINUOUS}
    pairs = []
    for a, b in itertools.combinations(list(types), 2):
        if types[a] in _CONTINUOUS and types[b] in _CONTINUOUS:
            rr = _pearson(*[numbers[c][0] for c in (a, b)])
            ss = _pearson(*[numbers[c][1] for c in (a, b)])
            score = 1.0 - abs(rr - ss) / 2.0 if np.isfinite(rr) and np.isfinite(ss) else float("nan")
            counts = correlation_threshold <= 0 or (np.isfinite(rr) and abs(rr) > correlation_threshold)
            pairs.append({"columns": [a, b], "metric": "CorrelationSimilarity", "score": score, "real": rr,
                          "synthetic": ss, "meets_threshold": bool(counts)})
        else:
            ra, sa, _ = codes[a]
            rb, sb, kb = codes[b]
            if association_threshold > 0:
                v = _cramers_v(ra, rb)
                counts = bool(np.isfinite(v) and v > association_threshold)
            else:
                v, counts = float("nan"), True
            pairs.append({"columns": [a, b], "metric": "ContingencySimilarity",
                          "score": _contingency_from_codes(ra, rb, sa, sb, kb), "real_association": v,
                          "meets_threshold": counts})
    shape_score = _mean(d["score"] for d in shapes.values())
    pair_score = _mean(d["score"] for d in pairs if d["meets_threshold"])
    return {
        "score": _mean([shape_score, pair_score]),
        "properties": {
            "Column Shapes": {"score": shape_score, "columns": shapes},
            "Column Pair Trends": {"score": pair_score, "pairs": pairs, "rows_used": [len(r), len(s)]},
        },
    }


# --- diagnostics --------------------------------------------------------------------------------
def boundary_adherence(real: pd.Series, synthetic: pd.Series) -> float:
    """Share of synthetic values in [min, max] of the real column (missing ones count as
    outside unless the real column has missing values, in which case they are dropped)."""
    a, b = _numbers(real), _numbers(synthetic)
    lo, hi = np.nanmin(a), np.nanmax(a)
    if np.isnan(a).any():
        b = b[np.isfinite(b)]
    if len(b) == 0:
        return float("nan")
    with np.errstate(invalid="ignore"):
        return float(((b >= lo) & (b <= hi)).mean())


def category_adherence(real: pd.Series, synthetic: pd.Series) -> float:
    """Share of synthetic values among the real column's categories (missing allowed if real has it)."""
    valid = set(_labels(real).dropna().tolist())
    labels = _labels(synthetic)
    ok = labels.isin(valid).to_numpy()
    if real.isna().any():
        ok |= labels.isna().to_numpy()
    return float(ok.mean()) if len(ok) else float("nan")


def diagnostics(real: pd.DataFrame, synthetic: pd.DataFrame, types: dict[str, str]) -> dict[str, Any]:
    boundary = {c: boundary_adherence(real[c], synthetic[c]) for c, k in types.items() if k in _CONTINUOUS}
    category = {c: category_adherence(real[c], synthetic[c]) for c, k in types.items() if k in _DISCRETE}
    return {
        "BoundaryAdherence": {"score": _mean(boundary.values()), "columns": boundary},
        "CategoryAdherence": {"score": _mean(category.values()), "columns": category},
    }


# --- privacy ----------------------------------------------------------------------------------------
class _DcrSpace:
    """Embeds rows so that the Manhattan distance / n_columns is SDMetrics' DCR distance.

    numeric/datetime: ``(x - min) / range`` of the reference, clipped to [0, 1], plus a
    missing flag (missing -> 0.5 and flag 1); a constant reference column gives 0 when
    equal and 1 otherwise. categorical: one-hot * 1/2 over the reference's (at most 200)
    most frequent values and one "other" slot (so two different values are 1 apart).
    Exact for values inside the reference's range; a value outside is compared as the
    nearest boundary value; missing-vs-value counts 1 to 1.5 instead of 1.
    """

    MAX_SLOTS = 200

    def __init__(self, reference: pd.DataFrame, types: dict[str, str]):
        self.types = types
        self.state = {}
        for col, kind in types.items():
            if kind in _CONTINUOUS:
                x = _numbers(reference[col])
                lo, hi = (np.nanmin(x), np.nanmax(x)) if np.isfinite(x).any() else (0.0, 0.0)
                self.state[col] = (float(lo), float(hi - lo))
            else:
                top = _labels(reference[col]).value_counts(dropna=False).index[: self.MAX_SLOTS]
                self.state[col] = {v: j for j, v in enumerate(top)}

    def embed(self, frame: pd.DataFrame) -> np.ndarray:
        blocks = []
        for col, kind in self.types.items():
            if kind in _CONTINUOUS:
                lo, rng_ = self.state[col]
                x = _numbers(frame[col])
                missing = ~np.isfinite(x)
                if rng_ > 0:
                    v = np.clip((x - lo) / rng_, 0.0, 1.0)
                else:
                    v = (np.abs(x - lo) > 0).astype(np.float64)
                v = np.where(missing, 0.5, v)
                blocks.append(np.stack([v, missing.astype(np.float64)], axis=1))
            else:
                slots = self.state[col]
                idx = _labels(frame[col]).map(lambda v, s=slots: s.get(v, len(s))).to_numpy(dtype=np.int64)
                onehot = np.zeros((len(frame), len(slots) + 1), dtype=np.float64)
                onehot[np.arange(len(frame)), idx] = 0.5
                blocks.append(onehot)
        return np.concatenate(blocks, axis=1)


def dcr(query: pd.DataFrame, reference: pd.DataFrame, types: dict[str, str],
        scale_from: pd.DataFrame | None = None) -> np.ndarray:
    """Distance of each query row to its closest reference row (SDMetrics' DCR distance).

    Column ranges (and category slots) come from ``scale_from``, by default the reference
    itself as in SDMetrics."""
    from sklearn.neighbors import NearestNeighbors

    space = _DcrSpace(reference if scale_from is None else scale_from, types)
    index = NearestNeighbors(n_neighbors=1, metric="manhattan").fit(space.embed(reference))
    dist, _ = index.kneighbors(space.embed(query))
    return dist[:, 0].astype(np.float64) / len(types)


def random_baseline(real: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """A table of independent uniform values within each real column's range / categories
    (with the real missing rate), as SDMetrics builds for DCRBaselineProtection."""
    out = {}
    for col in real.columns:
        s = real[col]
        nan_ratio = float(s.isna().mean())
        if nan_ratio == 1.0:  # no value to draw a range or a category from (e.g. a subsample)
            out[col] = pd.Series(np.full(n, np.nan))
            continue
        if pd.api.types.is_bool_dtype(s.dtype):
            values = pd.Series(rng.choice(s.dropna().unique(), size=n), dtype=object)
        elif pd.api.types.is_integer_dtype(s.dtype):
            values = pd.Series(rng.integers(int(s.min()), int(s.max()) + 1, size=n), dtype=np.float64)
        elif pd.api.types.is_float_dtype(s.dtype):
            values = pd.Series(rng.uniform(s.min(), s.max(), size=n))
        elif pd.api.types.is_datetime64_any_dtype(s.dtype):
            secs = _numbers(s)
            low, high = np.nanmin(secs), np.nanmax(secs)
            values = pd.Series(int_seconds_to_datetime(low + rng.uniform(0, high - low, size=n)))
        else:
            values = pd.Series(rng.choice(s.dropna().unique(), size=n), dtype=object)
        if nan_ratio > 0:  # no draw for complete columns: the same seed gives SDMetrics' table
            mask = rng.random(n) < nan_ratio
            values[mask] = None if values.dtype == object else np.nan
        out[col] = values
    return pd.DataFrame(out)


def int_seconds_to_datetime(seconds: np.ndarray) -> np.ndarray:
    return np.round(seconds).astype(np.int64).astype("datetime64[s]")


def dcr_baseline_protection(real: pd.DataFrame, synthetic: pd.DataFrame, types: dict[str, str],
                            rng: np.random.Generator) -> dict[str, float]:
    cols = list(types)
    random_rows = random_baseline(real[cols], len(synthetic), rng)
    med_syn = float(np.median(dcr(synthetic[cols], real[cols], types)))
    med_rand = float(np.median(dcr(random_rows, real[cols], types)))
    score = min(med_syn / med_rand, 1.0) if med_rand > 0 else float("nan")
    return {"score": score, "median_DCR_synthetic": med_syn, "median_DCR_random_baseline": med_rand}


def dcr_overfitting_protection(train: pd.DataFrame, synthetic: pd.DataFrame, holdout: pd.DataFrame,
                               types: dict[str, str], shared_ranges: bool = True) -> dict[str, float]:
    """Share of synthetic rows closer to the training rows than to the holdout rows, scored.

    ``shared_ranges``: scale both distances by the ranges of training + holdout rows
    together. SDMetrics (``False``) scales each by its own reference's ranges, which
    inflates the distances to a smaller (narrower) holdout and so favours "closer to
    training" whenever the holdout is smaller than the training set."""
    cols = list(types)
    scale = pd.concat([train[cols], holdout[cols]], ignore_index=True) if shared_ranges else None
    d_train = dcr(synthetic[cols], train[cols], types, scale)
    d_hold = dcr(synthetic[cols], holdout[cols], types, scale)
    closer = float(np.mean(d_train < d_hold))
    # without overfitting a synthetic row is closer to the training rows with probability
    # n_train / (n_train + n_holdout) (0.5 for equal sizes, SDMetrics' setting)
    expected = len(train) / (len(train) + len(holdout))
    score = min((1.0 - closer) / (1.0 - expected), 1.0)
    return {"score": score, "closer_to_training": closer, "closer_to_holdout": 1.0 - closer,
            "expected_closer_to_training": expected}


def _row_hashes(frame: pd.DataFrame, types: dict[str, str]) -> np.ndarray:
    norm = {}
    for col, kind in types.items():
        if kind in _CONTINUOUS:
            norm[col] = _numbers(frame[col])
        else:
            norm[col] = _labels(frame[col]).astype(str).to_numpy()
    return pd.util.hash_pandas_object(pd.DataFrame(norm), index=False).to_numpy()


def exact_copy_rate(train: pd.DataFrame, synthetic: pd.DataFrame, types: dict[str, str]) -> float:
    """Share of synthetic rows identical (all non-identifier columns) to a training row."""
    if len(synthetic) == 0:
        return float("nan")
    known = _row_hashes(train, types)
    return float(np.isin(_row_hashes(synthetic, types), known).mean())


# --- ML efficacy ------------------------------------------------------------------------------------
def _ml_matrix(frame: pd.DataFrame, features: list[str], types: dict[str, str]) -> pd.DataFrame:
    out = {}
    for col in features:
        out[col] = _numbers(frame[col]) if types[col] in _CONTINUOUS else _labels(frame[col]).astype(str).to_numpy()
    return pd.DataFrame(out)


def ml_efficacy(train: pd.DataFrame, synthetic: pd.DataFrame, holdout: pd.DataFrame, target: str,
                types: dict[str, str], task: str, rng: np.random.Generator, max_rows: int = 50_000) -> dict[str, Any]:
    """Train-on-synthetic / test-on-real against train-on-real / test-on-real."""
    from sklearn.compose import ColumnTransformer
    from sklearn.dummy import DummyClassifier, DummyRegressor
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.metrics import accuracy_score, f1_score, r2_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    if task == "auto":
        task = "regression" if types[target] in _CONTINUOUS else "classification"
    features = [c for c in types if c != target]
    categorical = [c for c in features if types[c] not in _CONTINUOUS]
    seed = int(rng.integers(0, 2**31 - 1))

    def prepare(frame):
        frame = frame[frame[target].notna()]
        frame = _subsample(frame.reset_index(drop=True), max_rows, rng)
        x = _ml_matrix(frame, features, types)
        y = _numbers(frame[target]) if task == "regression" else _labels(frame[target]).astype(str).to_numpy()
        return x, y

    def model(y):
        pre = ColumnTransformer(
            [("cat", OneHotEncoder(handle_unknown="ignore", max_categories=30, sparse_output=False), categorical)],
            remainder="passthrough",
        )
        if task == "classification":
            if len(np.unique(y)) < 2:
                return DummyClassifier(strategy="most_frequent")
            return make_pipeline(pre, HistGradientBoostingClassifier(max_iter=100, random_state=seed))
        if len(y) < 2:
            return DummyRegressor()
        return make_pipeline(pre, HistGradientBoostingRegressor(max_iter=100, random_state=seed))

    from threadpoolctl import threadpool_limits

    x_test, y_test = prepare(holdout)
    scores = {}
    for name, frame in (("real", train), ("synthetic", synthetic)):
        x, y = prepare(frame)
        if len(y) == 0 or len(y_test) == 0:
            scores[name] = {"score": float("nan")}
            continue
        with threadpool_limits(limits=1):  # OpenMP threads thrash on small tables and busy machines
            pred = model(y).fit(x, y).predict(x_test)
        if task == "classification":
            scores[name] = {"score": float(f1_score(y_test, pred, average="macro")),
                            "accuracy": float(accuracy_score(y_test, pred))}
        else:
            scores[name] = {"score": float(r2_score(y_test, pred))}
    real_score, syn_score = scores["real"]["score"], scores["synthetic"]["score"]
    ratio = syn_score / real_score if np.isfinite(real_score) and real_score > 0 else float("nan")
    return {
        "target": target,
        "task": task,
        "metric": "f1_macro" if task == "classification" else "r2",
        "model": "HistGradientBoosting" + ("Classifier" if task == "classification" else "Regressor"),
        "real": real_score,
        "synthetic": syn_score,
        "ratio": ratio,
        "details": scores,
    }


# --- schema of the synthetic table ------------------------------------------------------------------
_EXAMPLES = 5  # values listed per column in the schema section


def _share(count: int, total: int) -> float:
    return count / total if total else 0.0


def _examples(values: pd.Series) -> list[Any]:
    """The most frequent offending values (as text, cut to 40 characters)."""
    return [str(v)[:40] for v in values.value_counts().index[:_EXAMPLES]]


def _as_datetimes(series: pd.Series) -> pd.Series:
    """Text (or anything) as naive UTC ``datetime64[s]``; NaT where a value is not a date."""
    text = series.astype(object).where(series.notna(), None)
    parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    out = np.full(len(series), np.datetime64("NaT"), dtype="datetime64[s]")
    ok = parsed.notna().to_numpy()
    out[ok] = parsed[ok].dt.tz_localize(None).to_numpy().astype("datetime64[s]")
    for i in np.flatnonzero(~ok & series.notna().to_numpy()):  # outside pandas' ns range: one by one
        try:
            out[i] = np.datetime64(str(text.iloc[i]).strip().replace(" ", "T", 1), "s")
        except ValueError:
            pass
    return pd.Series(out, index=series.index, name=series.name)


def _conform_continuous(synthetic: pd.Series, kind: str) -> tuple[pd.Series, pd.Series]:
    """The synthetic column as numbers (or datetimes) and its values that are not."""
    if kind == "datetime":
        if pd.api.types.is_datetime64_any_dtype(synthetic.dtype):
            return synthetic, synthetic.iloc[:0]
        converted = _as_datetimes(synthetic)
    else:
        if pd.api.types.is_numeric_dtype(synthetic.dtype) and not pd.api.types.is_bool_dtype(synthetic.dtype):
            return synthetic, synthetic.iloc[:0]
        converted = pd.to_numeric(synthetic.astype(object), errors="coerce").astype(np.float64)
    bad = synthetic[synthetic.notna() & converted.isna()]
    return converted, bad


def _conform_discrete(real: pd.Series, synthetic: pd.Series) -> pd.Series:
    """A text synthetic column of a numeric or boolean real column (a CSV column that one
    stray text value kept as text) with its numbers / ``True`` / ``False`` read back."""
    if not (synthetic.dtype == object or pd.api.types.is_string_dtype(synthetic.dtype)):
        return synthetic
    text = synthetic.astype(object)
    if pd.api.types.is_bool_dtype(real.dtype):
        flags = {"True": True, "False": False, "true": True, "false": False}
        return text.map(lambda v: flags.get(v, v) if isinstance(v, str) else v)
    if pd.api.types.is_numeric_dtype(real.dtype):
        numbers = pd.to_numeric(text, errors="coerce")
        return text.where(numbers.isna(), numbers.astype(object))
    return synthetic


def conform_synthetic(real: pd.DataFrame, synthetic: pd.DataFrame,
                      types: dict[str, str]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The synthetic table in the real table's columns, with a ``schema`` section that says
    how it differed; refuses (``DataError``) a synthetic table lacking a real column.

    Extra columns are dropped. A value that is not a number (or date) in a numeric
    (datetime) column is counted and scored as missing; a category the real column never
    holds is counted (it lowers CategoryAdherence); an always-missing real column is listed
    and left out of every score. Each finding adds a line to ``schema["warnings"]``."""
    from domaingen.errors import DataError

    missing = [c for c in real.columns if c not in synthetic.columns]
    if missing:
        raise DataError(
            f"the synthetic table lacks the real columns {missing} (it has {list(synthetic.columns)[:20]}): "
            "evaluate rows generated from this recipe's bundle, or add those columns"
        )
    n = len(synthetic)
    schema: dict[str, Any] = {
        "extra_columns": [c for c in synthetic.columns if c not in real.columns],
        "always_missing": {},
        "invalid_values": {},
        "unseen_categories": {},
        "warnings": [],
    }
    warn = schema["warnings"].append
    if schema["extra_columns"]:
        warn(f"the synthetic table has columns the real one lacks, ignored: {schema['extra_columns'][:20]}")
    out = synthetic[list(real.columns)].copy(deep=False)  # the selection is new; its columns are replaced below
    for col, kind in types.items():
        if real[col].isna().all():
            values = int(out[col].notna().sum())
            schema["always_missing"][col] = {"synthetic_values": values}
            extra = f", but {values} of {n} synthetic values are set" if values else ""
            warn(f"column {col!r} is always missing in the real data: not scored{extra}")
        elif kind in _CONTINUOUS:
            out[col], bad = _conform_continuous(out[col], kind)
            if len(bad):
                what = "dates" if kind == "datetime" else "numbers"
                schema["invalid_values"][col] = {"count": len(bad), "share": _share(len(bad), n),
                                                 "examples": _examples(bad)}
                warn(f"column {col!r}: {len(bad)} of {n} synthetic values are not {what} "
                     f"(e.g. {_examples(bad)[:3]}): scored as missing")
        else:
            out[col] = _conform_discrete(real[col], out[col])
            known = set(_labels(real[col]).dropna().tolist())
            labels = _labels(out[col]).dropna()
            unseen = labels[~labels.isin(known)]
            if len(unseen):
                schema["unseen_categories"][col] = {"count": len(unseen), "share": _share(len(unseen), n),
                                                    "values": _examples(unseen)}
                warn(f"column {col!r}: {len(unseen)} of {n} synthetic values are categories the real data "
                     f"does not have (e.g. {_examples(unseen)[:3]}): they lower CategoryAdherence")
    return out, schema


def _quality_with_sdv_types(real: pd.DataFrame, synthetic: pd.DataFrame, table: dict[str, Any],
                            quality: dict[str, Any], rng: np.random.Generator, options: EvaluateOptions) -> dict[str, Any]:
    """Quality score, Column Shapes and Column Pair Trends with SDV's detected types (scored
    again only when a column would be scored another way; else the same figures)."""
    if not table["differ_from_sdv"]:
        q = quality
    else:
        types = _sdv_scored_types(real, table)
        if not types:
            return {"score": float("nan"), "column_shapes": float("nan"), "column_pair_trends": float("nan"),
                    "columns_differing": sorted(table["differ_from_sdv"])}
        q = quality_report(real, synthetic, types, rng, options.quality_rows,
                           options.real_correlation_threshold, options.real_association_threshold)
    return {"score": q["score"], "column_shapes": q["properties"]["Column Shapes"]["score"],
            "column_pair_trends": q["properties"]["Column Pair Trends"]["score"],
            "columns_differing": sorted(table["differ_from_sdv"])}


# --- everything -------------------------------------------------------------------------------------
def _scored(real: pd.DataFrame, synthetic: pd.DataFrame, column_types: dict[str, str] | None,
            conformed: tuple[pd.DataFrame, dict[str, Any]] | None = None) -> tuple[pd.DataFrame, dict[str, Any], dict[str, str]]:
    """The synthetic table in the real one's schema, the schema check, and the type each
    scored column is scored as (identifiers and always-missing columns left out)."""
    all_types = sdtypes(real, column_types)
    synthetic, schema = conformed if conformed is not None else conform_synthetic(real, synthetic, all_types)
    types = {c: k for c, k in all_types.items() if c not in schema["always_missing"]}
    if not types:
        from domaingen.errors import DataError

        raise DataError(
            f"no column of the real table can be scored: {list(all_types) or list(real.columns)} are all "
            "identifiers or always missing; evaluate a table with modelled columns"
        )
    return synthetic, schema, types


def quality_score(real: pd.DataFrame, synthetic: pd.DataFrame, options: EvaluateOptions, rng: np.random.Generator) -> float:
    """The report's ``quality_score`` alone (mean of Column Shapes and Column Pair Trends),
    without the rest of the report: what ``model.family: auto`` ranks families by."""
    synthetic, _, types = _scored(real, synthetic, options.column_types)
    return quality_report(real, synthetic, types, rng, options.quality_rows,
                          options.real_correlation_threshold, options.real_association_threshold)["score"]


def evaluate_tables(real: pd.DataFrame, synthetic: pd.DataFrame, holdout: pd.DataFrame | None,
                    options: EvaluateOptions, rng: np.random.Generator,
                    column_types: dict[str, str] | None = None,
                    conformed: tuple[pd.DataFrame, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The whole tabular report (JSON-serialisable; NaN becomes null).

    ``conformed``: ``conform_synthetic``'s result when the caller already has it."""
    synthetic, schema, types = _scored(real, synthetic, column_types, conformed)
    table = column_type_table(real, column_types, list(schema["always_missing"]))
    report: dict[str, Any] = {
        "rows": {"real": len(real), "synthetic": len(synthetic), "holdout": 0 if holdout is None else len(holdout)},
        "column_types": types,
        "types": table,
        "schema": schema,
    }
    same_rows = copy.deepcopy(rng)  # the second figure subsamples the same rows, the stream below is unchanged
    report["quality"] = quality_report(real, synthetic, types, rng, options.quality_rows,
                                       options.real_correlation_threshold, options.real_association_threshold)
    report["quality_sdv_types"] = _quality_with_sdv_types(real, synthetic, table, report["quality"], same_rows, options)
    report["diagnostics"] = diagnostics(real, synthetic, types)

    syn_q = _subsample(synthetic, options.privacy_rows, rng)
    ref = _subsample(real, options.reference_rows, rng)
    privacy: dict[str, Any] = {
        "subsample": {"synthetic_rows": len(syn_q), "reference_rows": len(ref)},
        "DCRBaselineProtection": dcr_baseline_protection(ref, syn_q, types, rng),
        "exact_copy_rate": exact_copy_rate(real, synthetic, types),
    }
    if holdout is not None and len(holdout) > 0:
        hold = _subsample(holdout, options.reference_rows, rng)
        privacy["subsample"]["holdout_rows"] = len(hold)
        privacy["DCROverfittingProtection"] = dcr_overfitting_protection(ref, syn_q, hold, types)
    else:
        privacy["DCROverfittingProtection"] = None
    parts = [privacy["DCRBaselineProtection"]["score"]]
    if privacy["DCROverfittingProtection"] is not None:
        parts.append(privacy["DCROverfittingProtection"]["score"])
    privacy["score"] = _mean(parts)
    report["privacy"] = privacy

    if options.target is None:
        report["ml_efficacy"] = None
    elif options.target in schema["always_missing"]:
        from domaingen.errors import UsageError

        raise UsageError(
            f"evaluate.options.target {options.target!r} is always missing in the real data, so nothing can "
            f"predict it; choose one of {list(types)}"
        )
    elif options.target not in types:
        from domaingen.errors import UsageError

        raise UsageError(
            f"evaluate.options.target {options.target!r} is not a modelled column; choose one of {list(types)}"
        )
    elif holdout is None or len(holdout) == 0:
        report["ml_efficacy"] = {"target": options.target, "skipped": "no holdout rows (set evaluate.holdout > 0)"}
    else:
        report["ml_efficacy"] = ml_efficacy(real, synthetic, holdout, options.target, types, options.task, rng, options.ml_rows)

    ml = report["ml_efficacy"] or {}
    report["summary"] = {
        "quality_score": report["quality"]["score"],
        "quality_score_sdv_types": report["quality_sdv_types"]["score"],
        "column_shapes": report["quality"]["properties"]["Column Shapes"]["score"],
        "column_pair_trends": report["quality"]["properties"]["Column Pair Trends"]["score"],
        "boundary_adherence": report["diagnostics"]["BoundaryAdherence"]["score"],
        "category_adherence": report["diagnostics"]["CategoryAdherence"]["score"],
        "privacy_score": privacy["score"],
        "exact_copy_rate": privacy["exact_copy_rate"],
        "ml_efficacy_real": ml.get("real"),
        "ml_efficacy_synthetic": ml.get("synthetic"),
        "ml_efficacy_ratio": ml.get("ratio"),
        "schema_warnings": len(schema["warnings"]),
    }
    return _nan_to_none(report)
