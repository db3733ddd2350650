import json

import numpy as np
import pytest

import domaingen as dg
from domaingen.errors import ConditionError, UsageError
from domaingen.generation import write_shards


def read_files(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name.startswith("part-")}


def test_shards_and_manifest(toy_bundle_dir, tmp_path):
    bundle = dg.load_bundle(toy_bundle_dir)
    manifest = write_shards(bundle, tmp_path, 2500, shard_size=1000, batch_size=300)
    assert manifest["complete"] and [s["records"] for s in manifest["shards"]] == [1000, 1000, 500]
    assert sorted(read_files(tmp_path)) == ["part-00000.jsonl", "part-00001.jsonl", "part-00002.jsonl"]
    on_disk = json.loads((tmp_path / "manifest.json").read_text())
    assert on_disk == manifest
    lines = sum(len(p.read_text().splitlines()) for p in tmp_path.glob("part-*"))
    assert lines == 2500
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_same_seed_same_bytes_and_any_shard_regenerates_alone(toy_bundle_dir, tmp_path):
    bundle = dg.load_bundle(toy_bundle_dir)
    write_shards(bundle, tmp_path / "a", 2500, shard_size=1000, seed=5)
    write_shards(bundle, tmp_path / "b", 2500, shard_size=1000, seed=5)
    first = read_files(tmp_path / "a")
    assert first == read_files(tmp_path / "b")
    write_shards(bundle, tmp_path / "c", 2500, shard_size=1000, seed=6)
    assert first["part-00000.jsonl"] != read_files(tmp_path / "c")["part-00000.jsonl"]


def test_interrupted_run_resumes_and_keeps_finished_shards(toy_bundle_dir, tmp_path):
    bundle = dg.load_bundle(toy_bundle_dir)
    write_shards(bundle, tmp_path, 3000, shard_size=1000)
    complete = read_files(tmp_path)
    # simulate an interruption: the last shard is missing and the first one must not be rewritten
    (tmp_path / "part-00002.jsonl").unlink()
    before = (tmp_path / "part-00000.jsonl").stat().st_mtime_ns
    manifest = write_shards(bundle, tmp_path, 3000, shard_size=1000)
    assert manifest["complete"]
    assert read_files(tmp_path) == complete
    assert (tmp_path / "part-00000.jsonl").stat().st_mtime_ns == before


def test_output_of_another_run_is_not_overwritten_silently(toy_bundle_dir, tmp_path):
    bundle = dg.load_bundle(toy_bundle_dir)
    write_shards(bundle, tmp_path, 100, shard_size=50)
    with pytest.raises(UsageError, match="different generation run"):
        write_shards(bundle, tmp_path, 100, shard_size=50, seed=99)
    write_shards(bundle, tmp_path, 100, shard_size=50, seed=99, overwrite=True)
    assert json.loads((tmp_path / "manifest.json").read_text())["seed"] == 99


def test_worker_processes_give_identical_files(toy_bundle_dir, tmp_path):
    bundle = dg.load_bundle(toy_bundle_dir)
    write_shards(bundle, tmp_path / "one", 3000, shard_size=1000)
    write_shards(bundle, tmp_path / "two", 3000, shard_size=1000, workers=2)
    assert read_files(tmp_path / "one") == read_files(tmp_path / "two")


def test_ray_engine_gives_identical_files(toy_bundle_dir, tmp_path):
    import ray

    bundle = dg.load_bundle(toy_bundle_dir)
    write_shards(bundle, tmp_path / "local", 2000, shard_size=1000)
    try:
        write_shards(bundle, tmp_path / "ray", 2000, shard_size=1000, engine="ray", workers=2)
    finally:
        ray.shutdown()
    assert read_files(tmp_path / "local") == read_files(tmp_path / "ray")


def test_native_condition_and_filter(toy_bundle_dir):
    bundle = dg.load_bundle(toy_bundle_dir)
    records = bundle.generate(500, seed=2, options={"only": "c"})
    assert len(records) == 500 and {r["c"] for r in records} == {"c"}
    records = bundle.generate(300, seed=2, options={"min_x": 1.5})
    assert len(records) == 300 and min(r["x"] for r in records) >= 1.5
    # the accepted rows still follow the conditional law: E[y | x >= 1.5] > E[y]
    assert np.mean([r["y"] for r in records]) > -2.0 + 0.5


def test_impossible_condition_fails_fast_with_clear_error(toy_bundle_dir, tmp_path):
    bundle = dg.load_bundle(toy_bundle_dir)
    with pytest.raises(ConditionError, match="look impossible"):
        bundle.generate(10, seed=1, options={"min_x": 1000.0})
    with pytest.raises(ConditionError, match="unknown category 'z'"):
        write_shards(bundle, tmp_path / "out", 10, options={"only": "z"})
    assert not list((tmp_path / "out").glob("part-*"))


def test_unknown_format_and_engine(toy_bundle_dir, tmp_path):
    bundle = dg.load_bundle(toy_bundle_dir)
    with pytest.raises(UsageError, match="writes jsonl"):
        write_shards(bundle, tmp_path, 10, fmt="csv")
    with pytest.raises(UsageError, match="engine 'spark'"):
        write_shards(bundle, tmp_path, 10, engine="spark")
