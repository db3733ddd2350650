"""Same recipe + seed on the same machine and backend -> byte-identical files."""

import domaingen as dg


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and "bundle" not in p.parts}


def test_run_twice_gives_identical_outputs(toy_recipe_path, tmp_path):
    recipe = dg.load_recipe(toy_recipe_path)
    dg.run(recipe, tmp_path / "a")
    dg.run(recipe, tmp_path / "b")
    first, second = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert "report.json" in first and "synthetic/part-00000.jsonl" in first
    assert first == second
    meta = [dg.load_bundle(tmp_path / d / "bundle").meta for d in "ab"]
    assert meta[0]["weights_sha256"] == meta[1]["weights_sha256"]
    dg.run(recipe.with_seed(8), tmp_path / "c")
    assert _files(tmp_path / "c")["synthetic/part-00000.jsonl"] != first["synthetic/part-00000.jsonl"]
