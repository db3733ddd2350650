import json
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
import pytest

import domaingen as dg
from domaingen import generation
from domaingen.errors import ConditionError, DataError, UsageError
from domaingen.files import LOCK_NAME, TEMP_NAME, folder_lock, sha256_file
from domaingen.generation import generation_counts, manifest_files, read_manifest, write_shards


def read_files(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name.startswith("part-")}


def folder_files(folder):
    """Every file under ``folder`` (hidden ones too) except the manifest, relative."""
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir()} - {"manifest.json"}


def stale_temporary(folder, target, *, folder_kind=False):
    """A temporary as an interrupted ``atomic_path`` (or ``atomic_dir``) write leaves it."""
    prefix, suffix = TEMP_NAME.affixes(target)
    if folder_kind:
        return tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=folder)
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=folder)
    os.write(fd, b"half")
    os.close(fd)
    return name


def listed_files(manifest):
    """The files a manifest lists: its shards' and its overview's."""
    return {f["path"] for s in manifest["shards"] for f in s["files"]} | {f["path"] for f in manifest.get("overview", [])}


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
    assert folder_files(tmp_path) == listed_files(manifest)  # exactly its files: no lock left, none listed


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


# ------------------------------------------------------------------------------ faults


def test_resume_removes_stale_temporaries_and_unlisted_shards(toy_bundle_dir, tmp_path):
    bundle = dg.load_bundle(toy_bundle_dir)
    clean = write_shards(bundle, tmp_path / "clean", 3000, shard_size=1000)
    out = tmp_path / "out"
    write_shards(bundle, out, 3000, shard_size=1000)
    # as a kill -9 leaves it: shard 2 half-written under its temporary name, the manifest
    # not yet listing shard 1 (written just before), a manifest temporary, a shard folder's
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["shards"] = manifest["shards"][:1]
    manifest["complete"] = False
    (out / "manifest.json").write_text(json.dumps(manifest))
    (out / "part-00002.jsonl").unlink()
    stale = [stale_temporary(out, "part-00002.jsonl"), stale_temporary(out, "manifest.json"), stale_temporary(out, "part-00009", folder_kind=True)]
    (out / "part-00001.jsonl").write_text("garbage an earlier run wrote before it died\n")
    resumed = write_shards(bundle, out, 3000, shard_size=1000)
    assert resumed["complete"]
    assert not [name for name in stale if os.path.lexists(name)]
    assert folder_files(out) == listed_files(resumed)
    assert read_files(out) == read_files(tmp_path / "clean") and resumed["shards"] == clean["shards"]


def test_overwrite_removes_temporaries_and_shards_of_the_other_run(toy_bundle_dir, tmp_path):
    bundle = dg.load_bundle(toy_bundle_dir)
    write_shards(bundle, tmp_path, 300, shard_size=100)
    (tmp_path / "part-00007.jsonl").write_text("unlisted\n")
    stale_temporary(tmp_path, "part-00003.jsonl")
    manifest = write_shards(bundle, tmp_path, 100, shard_size=100, seed=5, overwrite=True)
    assert folder_files(tmp_path) == listed_files(manifest) == {"part-00000.jsonl"}


KILLED_WRITER = textwrap.dedent("""
    import os, signal, sys
    import domaingen as dg
    from domaingen.files import atomic_path
    from domaingen.generation import write_shards

    bundle = dg.load_bundle(sys.argv[1])
    plugin = type(bundle.plugin)
    write = plugin.write

    def dying_write(self, raw, stem, fmt, options):
        if stem.name == "part-00002":  # kill -9 in the middle of writing this shard
            with atomic_path(f"{stem}.jsonl") as tmp:
                tmp.write_text("half a shard")
                os.kill(os.getpid(), signal.SIGKILL)
        return write(self, raw, stem, fmt, options)

    plugin.write = dying_write
    write_shards(bundle, sys.argv[2], 4000, shard_size=1000)
""")


def test_run_killed_mid_shard_resumes_complete_and_takes_over_its_lock(toy_bundle_dir, tmp_path, caplog):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(toy_bundle_dir), str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    left = sorted(p.name for p in out.iterdir())
    assert LOCK_NAME in left and any(TEMP_NAME.matches(name) and name.startswith(".part-00002.jsonl.") for name in left)
    dead = json.loads((out / LOCK_NAME).read_text())["pid"]
    bundle = dg.load_bundle(toy_bundle_dir)
    with caplog.at_level(logging.WARNING, logger="domaingen"):
        manifest = write_shards(bundle, out, 4000, shard_size=1000)
    assert f"left by pid {dead}" in caplog.text
    assert manifest["complete"] and folder_files(out) == listed_files(manifest)
    write_shards(bundle, tmp_path / "clean", 4000, shard_size=1000)
    assert read_files(out) == read_files(tmp_path / "clean")


HOLDER = textwrap.dedent("""
    import sys
    from domaingen.files import folder_lock

    with folder_lock(sys.argv[1]):
        print("held", flush=True)
        sys.stdin.read()
""")


def test_second_writer_is_refused_while_the_first_holds_the_folder(toy_bundle_dir, tmp_path):
    bundle = dg.load_bundle(toy_bundle_dir)
    write_shards(bundle, tmp_path, 100, shard_size=50)
    before = read_files(tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        lock = re.escape(str(tmp_path / LOCK_NAME))
        with pytest.raises(UsageError, match=rf"pid {holder.pid} on .*lock {lock}.*delete {lock}"):
            write_shards(bundle, tmp_path, 100, shard_size=50, seed=99, overwrite=True)
        assert read_files(tmp_path) == before  # the refused writer touched nothing
    finally:
        holder.communicate("", timeout=60)
    assert not (tmp_path / LOCK_NAME).exists()
    write_shards(bundle, tmp_path, 100, shard_size=50, seed=99, overwrite=True)  # free again


def test_lock_held_in_process_refuses_write_shards(toy_bundle_dir, tmp_path):
    bundle = dg.load_bundle(toy_bundle_dir)
    with folder_lock(tmp_path):
        with pytest.raises(UsageError, match=f"pid {os.getpid()}"):
            write_shards(bundle, tmp_path, 10)
    assert list(tmp_path.iterdir()) == []


def test_failed_run_removes_the_folders_it_created(toy_bundle_dir, tmp_path, monkeypatch):
    bundle = dg.load_bundle(toy_bundle_dir)

    def broken(*args, **kwargs):
        raise OSError("disk full")
        yield

    monkeypatch.setattr(generation, "_shard_entries", broken)
    with pytest.raises(OSError, match="disk full"):
        write_shards(bundle, tmp_path / "a" / "b" / "out", 10)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------ manifests


@pytest.fixture
def small_output(toy_bundle_dir, tmp_path):
    bundle = dg.load_bundle(toy_bundle_dir)
    out = tmp_path / "out"
    write_shards(bundle, out, 200, shard_size=100)
    secret = tmp_path / "secret.jsonl"
    secret.write_text('{"x": 0}\n')
    return bundle, out, secret


def edit_manifest(out, path, secret):
    """Point shard 0 at ``path``, with the secret file's checksum: followed, it would pass."""
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["shards"][0]["files"][0] = {"path": path, "sha256": sha256_file(secret)}
    (out / "manifest.json").write_text(json.dumps(manifest))
    return manifest


@pytest.mark.parametrize("entry", ["../secret.jsonl", "sub/../../secret.jsonl", "{secret}", "link.jsonl", ".", "a\\..\\..\\secret.jsonl"])
def test_manifest_paths_outside_the_folder_are_refused(small_output, entry):
    bundle, out, secret = small_output
    os.symlink(secret, out / "link.jsonl")
    manifest = edit_manifest(out, entry.format(secret=secret), secret)
    with pytest.raises(DataError, match="leads outside .*refused"):
        manifest_files(out, manifest)
    with pytest.raises(DataError, match="leads outside .*pass --overwrite"):
        write_shards(bundle, out, 200, shard_size=100)  # resume does not follow it
    write_shards(bundle, out, 200, shard_size=100, seed=3, overwrite=True)  # nor does --overwrite
    assert secret.read_text() == '{"x": 0}\n'


def test_manifest_files_are_the_listed_paths_inside_the_folder(small_output):
    _, out, _ = small_output
    manifest = read_manifest(out)
    assert manifest_files(out, manifest) == [out / "part-00000.jsonl", out / "part-00001.jsonl"]
    assert read_manifest(out / "nowhere") is None


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "corrupt JSON"),
        ("[1, 2]", "not a domaingen manifest"),
        ('{"format": "domaingen-manifest", "shards": [{"index": 0, "records": "many", "files": []}]}', "malformed shard entry"),
        ("[" * 100000, "corrupt JSON"),
    ],
)
def test_unreadable_manifest_is_refused_clearly(small_output, content, message):
    bundle, out, _ = small_output
    (out / "manifest.json").write_text(content)
    with pytest.raises(DataError, match=message):
        read_manifest(out)
    with pytest.raises(DataError, match=f"{message}.*pass --overwrite"):
        write_shards(bundle, out, 200, shard_size=100)
    manifest = write_shards(bundle, out, 200, shard_size=100, overwrite=True)
    assert folder_files(out) == listed_files(manifest)


def test_oversized_manifest_is_refused(small_output, monkeypatch):
    _, out, _ = small_output
    monkeypatch.setattr(generation, "MAX_MANIFEST_BYTES", 100)
    with pytest.raises(DataError, match=r"over 100 bytes \(generation.MAX_MANIFEST_BYTES\)"):
        read_manifest(out)


def test_generation_counts_refuses_a_malformed_manifest():
    with pytest.raises(DataError, match="malformed shard entry"):
        generation_counts({"shards": [{"index": 0, "records": 5, "files": [], "filtered": {"accepted": "all"}}]})
