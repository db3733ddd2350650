import json
import logging
import os
import re
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from domaingen.errors import DataError, UsageError
from domaingen.files import LOCK_NAME, TEMP_NAME, atomic_dir, atomic_path, folder_lock, load_npz, remove_temporaries


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.csv"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_replaces_target_on_success(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old")
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_atomic_dir_keeps_old_content_on_failure(tmp_path):
    target = tmp_path / "bundle"
    target.mkdir()
    (target / "a").write_text("old")
    with pytest.raises(ValueError):
        with atomic_dir(target) as tmp:
            (tmp / "a").write_text("new")
            raise ValueError
    assert (target / "a").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]


# ---------------------------------------------------------------------------- temporaries


def test_atomic_writes_name_their_temporaries_by_the_one_pattern(tmp_path):
    with atomic_path(tmp_path / "out.csv"):
        (name,) = [p.name for p in tmp_path.iterdir()]
        assert name.startswith(".out.csv.") and TEMP_NAME.matches(name)
    with atomic_dir(tmp_path / "shard"):
        (name,) = [p.name for p in tmp_path.iterdir() if p.name != "out.csv"]
        assert TEMP_NAME.matches(name)
    assert TEMP_NAME.matches(TEMP_NAME.old("shard"))  # the folder atomic_dir swaps out
    for other in ("out.csv", ".out.csv", "notes.tmp", ".out.csv.tmp", ".out.csv.TOOLONGTAG.tmp", ".domaingen.lock"):
        assert not TEMP_NAME.matches(other)


def test_remove_temporaries_removes_only_stale_temporaries(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("x")
    folder = tmp_path / "out"
    (folder / "part-00000").mkdir(parents=True)
    (folder / "other").mkdir()
    stale = [folder / ".part-00001.csv.k2j_9x0a.tmp", folder / ".manifest.json.abcdefgh.tmp", folder / "part-00000" / ".a.png.abcdefgh.tmp"]
    for path in stale:
        path.write_text("half")
    (folder / ".part-00002.abcdefgh.tmp").mkdir()  # an atomic_dir temporary, with content
    (folder / ".part-00002.abcdefgh.tmp" / "0.png").write_text("x")
    (folder / TEMP_NAME.old("part-00003")).mkdir()
    os.symlink(outside, folder / ".link.abcdefgh.tmp")  # a link is removed, never followed
    kept = [folder / "part-00000.csv", folder / "notes.tmp", folder / ".hidden", folder / "other" / ".a.png.abcdefgh.tmp"]
    for path in kept:
        path.write_text("mine")
    removed = remove_temporaries(folder, descend=lambda name: name.startswith("part-"))
    assert len(removed) == 6
    assert not any(p.exists() or p.is_symlink() for p in removed)
    assert all(p.exists() for p in kept)
    assert (outside / "keep.txt").exists()


# ---------------------------------------------------------------------------- folder lock


def dead_pid() -> int:
    """The pid of a process that has exited (and was reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def write_lock(folder, **holder):
    (folder / LOCK_NAME).write_text(json.dumps(holder))


def test_folder_lock_is_exclusive_names_its_holder_and_is_removed(tmp_path):
    with folder_lock(tmp_path) as lock:
        holder = json.loads(lock.read_text())
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
        with pytest.raises(UsageError, match=rf"pid {os.getpid()} on .*lock {re.escape(str(lock))}.*delete {re.escape(str(lock))}"):
            with folder_lock(tmp_path):
                pass
        assert lock.exists()  # the refused writer leaves the holder's lock alone
    assert list(tmp_path.iterdir()) == []
    with folder_lock(tmp_path):  # free again
        pass


def test_stale_lock_of_a_dead_process_is_taken_over_with_a_note(tmp_path, caplog):
    pid = dead_pid()
    write_lock(tmp_path, pid=pid, host=socket.gethostname(), started="2020-01-01T00:00:00+00:00")
    with caplog.at_level(logging.WARNING, logger="domaingen"):
        with folder_lock(tmp_path) as lock:
            assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert f"taking over the lock {tmp_path / LOCK_NAME} left by pid {pid}" in caplog.text
    assert not (tmp_path / LOCK_NAME).exists()


def test_lock_of_another_host_or_a_live_process_is_not_taken(tmp_path):
    write_lock(tmp_path, pid=dead_pid(), host="some-other-machine")
    with pytest.raises(UsageError, match="on some-other-machine"):
        with folder_lock(tmp_path):
            pass
    write_lock(tmp_path, pid=os.getppid(), host=socket.gethostname())  # alive, lock file unlocked
    with pytest.raises(UsageError, match=f"pid {os.getppid()}"):
        with folder_lock(tmp_path):
            pass


def test_empty_lock_file_is_held_while_fresh_and_stale_when_old(tmp_path):
    (tmp_path / LOCK_NAME).write_text("")  # its creator may be about to write its pid
    with pytest.raises(UsageError, match="an unknown process"):
        with folder_lock(tmp_path):
            pass
    old = time.time() - 3600
    os.utime(tmp_path / LOCK_NAME, (old, old))
    with folder_lock(tmp_path):
        pass
    assert not (tmp_path / LOCK_NAME).exists()


# ---------------------------------------------------------------------------- bounded npz


def test_load_npz_refuses_corrupt_object_and_oversized_archives(tmp_path):
    good = tmp_path / "good.npz"
    np.savez(good, a=np.arange(3), s=np.array(["x", "yz"]))
    arrays = load_npz(good, label="good.npz", fix="save it again")
    assert arrays["a"].tolist() == [0, 1, 2] and arrays["s"].tolist() == ["x", "yz"]
    with pytest.raises(DataError, match=r"good.npz: its members declare \d+ bytes uncompressed, over the limit of 100"):
        load_npz(good, label="good.npz", fix="save it again", max_bytes=100)
    truncated = tmp_path / "cut.npz"
    truncated.write_bytes(good.read_bytes()[:100])
    with pytest.raises(DataError, match=r"cut.npz is corrupt \(BadZipFile"):
        load_npz(truncated, label="cut.npz", fix="save it again")
    pickled = tmp_path / "obj.npz"
    np.savez(pickled, o=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DataError, match=r"obj.npz holds a non-numeric array 'o' \(dtype object"):
        load_npz(pickled, label="obj.npz", fix="save it again")
