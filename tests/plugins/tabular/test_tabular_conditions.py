"""Generation conditions (native + filter) and constraints (repair or reject)."""

import numpy as np
import pandas as pd
import pytest

from domaingen.errors import ConditionError, DataError
from domaingen_plugins.tabular import DataOptions, GenerateOptions, TabularCodec, plugin


@pytest.fixture
def codec(mixed_table):
    return TabularCodec().fit(mixed_table)


def noise(codec, n=4000, seed=0):
    return codec.decode(np.random.default_rng(seed).normal(size=(n, codec.spec.width)), np.random.default_rng(seed))


def test_category_conditions_are_native_and_filtered(codec):
    request = plugin.generation_request(codec, GenerateOptions(conditions={"sex": "male", "smoker": True}))
    assert request.conditions == {"sex": codec.column("sex").categories.index("male"), "smoker": 1}
    kept = request.accept(noise(codec))
    assert len(kept) > 0 and (kept["sex"] == "male").all() and kept["smoker"].all()


def test_range_conditions_filter(codec):
    request = plugin.generation_request(
        codec, {"conditions": {"age": {"min": 30, "max": 40}, "admitted": {"min": "2000-01-01"}}}
    )
    assert request.conditions is None  # ranges are not native
    kept = request.accept(noise(codec))
    assert len(kept) > 0
    assert kept["age"].between(30, 40).all()
    assert (kept["admitted"] >= pd.Timestamp("2000-01-01")).all()


@pytest.mark.parametrize(
    "conditions, message",
    [
        ({"nope": 1}, r"unknown column 'nope'; columns are \['patient_id'"),
        ({"sex": "robot"}, r"unknown value 'robot'; valid values are \['female', 'male', 'other'\]"),
        ({"age": {"min": 200}}, r"'age' cannot be met: the column's values lie in 18 \.\. 89"),
        ({"age": {"min": 50, "max": 40}}, "min is above max"),
        ({"admitted": {"max": "1700-01-01"}}, "cannot be met"),
        ({"sex": {"min": 1}}, "needs a numeric or datetime column"),
        ({"patient_id": "P00001"}, "identifiers"),
        ({"site": "south"}, "constant"),
    ],
)
def test_bad_conditions_name_the_column(codec, conditions, message):
    with pytest.raises(ConditionError, match=message):
        plugin.generation_request(codec, GenerateOptions(conditions=conditions))


def test_constraints_hold_on_every_accepted_row(mixed_table):
    options = DataOptions(
        constraints=[
            {"type": "range", "column": "age", "min": 20, "max": 60},
            {"type": "inequality", "low": "admitted", "high": "discharged"},
            {"type": "fixed_combinations", "columns": ["sex", "smoker"]},
        ]
    )
    table = mixed_table.copy()
    table.loc[table["sex"] == "other", "smoker"] = False  # (other, True) never occurs
    codec = TabularCodec(options).fit(table)
    raw = noise(codec, 3000)
    assert ((raw["sex"] == "other") & raw["smoker"]).any()  # the noise breaks them...
    assert (raw["admitted"] > raw["discharged"]).any()
    kept = plugin.generation_request(codec, GenerateOptions()).accept(raw)
    assert 0 < len(kept) < len(raw)  # ...the filter rejects some rows and keeps others
    assert kept["age"].between(20, 60).all() and kept["age"].dtype == np.int64  # repaired by clipping
    assert (kept["admitted"] <= kept["discharged"]).all()
    assert not ((kept["sex"] == "other") & kept["smoker"]).any()


def test_constraint_on_unknown_or_wrong_column(mixed_table):
    with pytest.raises(DataError, match="unknown column 'nope'"):
        TabularCodec(DataOptions(constraints=[{"type": "range", "column": "nope", "min": 0}])).fit(mixed_table)
    with pytest.raises(DataError, match="'sex' is categorical"):
        TabularCodec(DataOptions(constraints=[{"type": "inequality", "low": "sex", "high": "age"}])).fit(mixed_table)


def test_filter_is_picklable_for_worker_processes(codec):
    import pickle

    request = plugin.generation_request(codec, GenerateOptions(conditions={"sex": "female"}))
    again = pickle.loads(pickle.dumps(request.accept))
    raw = noise(codec, 500)
    pd.testing.assert_frame_equal(again(raw), request.accept(raw))
