"""The text plugin keeps the plugin contracts (domaingen.testing)."""

from pathlib import Path

from domaingen.testing import Conformance, conformance_tests
from domaingen_plugins.text import plugin

RECIPE = {
    "schema_version": 1,
    "seed": 5,
    "data": {"plugin": "text", "source": "pydoc:topics",
             "options": {"split": "paragraphs", "min_chars": 40, "max_records": 60, "tokenizer": "char", "seq_len": 32}},
    "model": {"family": "transformer", "options": {"dim": 16, "heads": 2, "layers": 1, "ff_dim": 32}},
    "train": {"epochs": 1, "batch_size": 64},
    "generate": {"n": 4, "format": "jsonl", "options": {"max_chars": 60}},
    "evaluate": {"holdout": 0.1, "options": {"kn_orders": [3]}},
}


def _refused(folder: Path):
    (folder / "empty-folder").mkdir()
    return [("pydoc:no_such_topics", {}), (str(folder / "empty-folder"), {})]


test_text_conformance = conformance_tests(lambda: Conformance(plugin, RECIPE, refused_inputs=_refused))
