"""The fuzz suite: seeded, bounded broken inputs through the real CLI (issue 14, section 2).

Each case (``recipes-007``, ``bundles-012``...) is one command over inputs a generator
wrote; it must end with the exit code the case allows, a one- or two-line ``error:``
message, no traceback, nothing touched outside the output folder and no partial output
(tests/fuzz/harness.py). ``--fuzz-cases N`` / ``DOMAINGEN_FUZZ_CASES`` runs more cases,
``--fuzz-seed S`` / ``DOMAINGEN_FUZZ_SEED`` others; a failure prints the line that
replays it.
"""

from __future__ import annotations

import pytest

from . import gen_bundles, gen_media, gen_recipes, gen_tables
from .harness import case_rng, failure_report, run_case

pytestmark = pytest.mark.fuzz

GENERATORS = {
    gen_recipes.GROUP: gen_recipes.make_case,
    gen_tables.GROUP: gen_tables.make_case,
    gen_bundles.GROUP: gen_bundles.make_case,
    gen_media.GROUP: gen_media.make_case,
}


def test_fuzz_case(fuzz_key, fuzz_settings, fuzz_assets, fuzz_box, monkeypatch):
    group, index = fuzz_key
    case = GENERATORS[group](index, case_rng(fuzz_settings.seed, group, index), fuzz_box, fuzz_assets)
    outcome, problems = run_case(case, [fuzz_assets.root], monkeypatch)
    assert not problems, failure_report(case, fuzz_settings, outcome, problems)


@pytest.mark.parametrize("group, mutation", [
    ("recipes", gen_recipes.alias_bomb),  # refused before TensorFlow is imported
    ("bundles", gen_bundles.zip_dotdot),  # refused after it is: library logs must stay quiet
])
def test_a_case_in_a_process_of_its_own(group, mutation, fuzz_settings, fuzz_assets, fuzz_box, monkeypatch):
    """The console script as a shell runs it: the same rules hold for everything the
    process prints (a library's log lines count towards the two lines)."""
    generator = GENERATORS[group]
    mutations = [*(gen_recipes.MUTATIONS if group == "recipes" else gen_bundles.BUNDLE_MUTATIONS)]
    index = mutations.index(mutation)
    case = generator(index, case_rng(fuzz_settings.seed, group, index), fuzz_box, fuzz_assets)
    assert case.mutation == mutation.__name__ and case.expect == frozenset({2})
    outcome, problems = run_case(case, [fuzz_assets.root], monkeypatch, process=True)
    assert not problems, failure_report(case, fuzz_settings, outcome, problems)
