"""File helpers shared by the core and plugins: complete-or-absent writes, fingerprints,
bounded archive reading and an exclusive lock on an output folder."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import hashlib
import json
import logging
import math
import os
import re
import shutil
import socket
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from .errors import DataError, DomaingenError, UsageError

__all__ = [
    "atomic_path",
    "atomic_dir",
    "sha256_file",
    "TEMP_NAME",
    "remove_temporaries",
    "declared_size_problem",
    "load_npz",
    "folder_lock",
    "LOCK_NAME",
]

log = logging.getLogger("domaingen")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ------------------------------------------------------------------------------------------
# complete-or-absent writes


@dataclasses.dataclass(frozen=True)
class TempName:
    """How complete-or-absent writes name their temporaries: ``.<target>.<tag>.tmp`` beside
    the target, ``<tag>`` being ``tempfile``'s 8 random characters or ``old`` (the previous
    folder while ``atomic_dir`` swaps it). One definition both makes and recognises them,
    so a run can clear the temporaries a killed run left behind."""

    prefix: str = "."
    suffix: str = ".tmp"
    tag: str = r"[a-z0-9_]{8}|old"  # tempfile's random names use these characters

    def affixes(self, target_name: str) -> tuple[str, str]:
        """``(prefix, suffix)`` for ``tempfile.mkstemp`` / ``mkdtemp`` beside ``target_name``."""
        return f"{self.prefix}{target_name}.", self.suffix

    def old(self, target_name: str) -> str:
        """The name ``atomic_dir`` gives the folder it replaces, until the swap is done."""
        prefix, suffix = self.affixes(target_name)
        return f"{prefix}old{suffix}"

    def matches(self, name: str) -> bool:
        """Whether ``name`` is a temporary of a complete-or-absent write."""
        pattern = rf"{re.escape(self.prefix)}.+\.(?:{self.tag}){re.escape(self.suffix)}"
        return re.fullmatch(pattern, name) is not None


TEMP_NAME = TempName()


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` only on success.

    Readers never see a half-written file: on any exception the temporary file is removed
    and ``target`` is left as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix, suffix = TEMP_NAME.affixes(target.name)
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the file ordinary permissions
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory beside ``target``; it becomes ``target`` only on success.

    An existing ``target`` is replaced; on failure nothing is left behind.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix, suffix = TEMP_NAME.affixes(target.name)
    tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=target.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        yield tmp
        if target.exists():
            old = target.with_name(TEMP_NAME.old(target.name))
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def remove_temporaries(folder: str | os.PathLike, descend: Callable[[str], bool] = lambda name: False) -> list[Path]:
    """Delete the temporaries (``TEMP_NAME``) that interrupted writes left in ``folder``;
    return them. Subfolders are searched only where ``descend(name)`` says so; links are
    removed, never followed. Call it only while no other process writes there (a lock)."""
    removed: list[Path] = []
    with os.scandir(folder) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            path = Path(entry.path)
            if TEMP_NAME.matches(entry.name):
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
                removed.append(path)
            elif entry.is_dir(follow_symlinks=False) and descend(entry.name):
                removed += remove_temporaries(path, descend)
    return removed


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


# ------------------------------------------------------------------------------------------
# archives read within bounds


def declared_size_problem(infos: Iterable[zipfile.ZipInfo], *, max_bytes: int, max_ratio: float, ratio_above: int) -> str | None:
    """What is wrong with a zip's declared sizes before anything is decompressed, or ``None``:
    members that expand past ``max_bytes`` together, or one above ``ratio_above`` bytes
    that expands more than ``max_ratio`` times its compressed size (a zip bomb)."""
    infos = list(infos)
    total = sum(info.file_size for info in infos)
    if total > max_bytes:
        return f"its members declare {total:,} bytes uncompressed, over the limit of {max_bytes:,}"
    for info in infos:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > ratio_above and ratio > max_ratio:
            return (
                f"member {info.filename} expands {info.compress_size:,} bytes to {info.file_size:,} "
                f"(ratio {ratio:.0f}, limit {max_ratio:g}): a likely zip bomb"
            )
    return None


def load_npz(
    path: str | os.PathLike,
    *,
    label: str,
    fix: str,
    error: type[DomaingenError] = DataError,
    max_bytes: int = 4 << 30,
    max_ratio: float = 200,
    ratio_above: int = 8 << 20,
) -> dict[str, Any]:
    """The arrays of the ``.npz`` at ``path``, read without pickle and within bounds.

    The zip directory and every ``.npy`` header are checked before any array is read:
    declared sizes (``declared_size_problem``), object dtypes (``error``: "holds a
    non-numeric array"), and shapes the member's bytes cannot hold. A truncated or corrupt
    file raises ``error`` ("is corrupt"). ``label`` names the file in messages ("bundle X:
    its codec.npz"), ``fix`` says what to do.
    """
    import numpy as np

    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            problem = declared_size_problem(infos, max_bytes=max_bytes, max_ratio=max_ratio, ratio_above=ratio_above)
            if problem:
                raise error(f"{label}: {problem}; refused before reading it: {fix}")
            for info in infos:
                _check_npy_header(archive, info, label, fix, error)
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except DomaingenError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, zlib.error, NotImplementedError, KeyError) as exc:
        raise error(f"{label} is corrupt ({type(exc).__name__}: {exc}); refused: {fix}") from None


def _check_npy_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo, label: str, fix: str, error: type[DomaingenError]) -> None:
    """Refuse one ``.npz`` member that is not a plain array its bytes can hold."""
    from numpy.lib import format as npy

    if not info.filename.endswith(".npy"):
        raise error(f"{label} holds {info.filename!r}, which is not an array; refused: {fix}")
    with archive.open(info) as fh:
        version = npy.read_magic(fh)
        if version not in ((1, 0), (2, 0), (3, 0)):
            raise ValueError(f"unsupported .npy format version {version}")
        read = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
        shape, _, dtype = read(fh)
    name = info.filename[: -len(".npy")]
    if dtype.hasobject:
        raise error(f"{label} holds a non-numeric array {name!r} (dtype {dtype}, which only pickle could load); refused: {fix}")
    declared = math.prod(shape) * dtype.itemsize
    if declared > info.file_size:
        raise error(f"{label} is corrupt: array {name!r} declares shape {shape} ({declared:,} bytes) in {info.file_size:,} bytes; refused: {fix}")


# ------------------------------------------------------------------------------------------
# one writer per folder

LOCK_NAME = ".domaingen.lock"
_FRESH_LOCK_SECONDS = 30.0  # an unreadable lock younger than this may be mid-creation


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, *, hint: str = "choose another folder") -> Iterator[Path]:
    """Hold ``folder``'s exclusive lock (``LOCK_NAME``, removed on exit) while the block runs.

    The lock file is created with ``O_CREAT | O_EXCL`` and holds the owner's pid and host;
    ``fcntl.flock`` guards it too where available. A second writer gets a ``UsageError``
    naming the holder and the lock; a lock left by a dead process on this host is taken
    over (with a logged note). ``hint`` is the advice for the refused writer.
    """
    path = Path(folder) / LOCK_NAME
    fd = _acquire(path, hint)
    try:
        yield path
    finally:
        _release(path, fd)


def _acquire(path: Path, hint: str) -> int:
    """The descriptor of ``path``, created or taken over; ``UsageError`` while it is held."""
    for _ in range(10):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
        except FileExistsError:
            fd = _take_over(path, hint)
            if fd is None:
                continue  # released (or replaced) while we looked: try again
            return fd
        try:
            _flock(fd, blocking=True)  # a taker may hold it for a moment while it reads the empty file
            _write_holder(fd)
        except BaseException:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        return fd
    raise UsageError(f"lock {path}: it keeps changing hands; another process is writing there: {hint}")


def _take_over(path: Path, hint: str) -> int | None:
    """Take over the existing lock ``path`` if its holder is gone; ``None`` if it vanished."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        if not _flock(fd, blocking=False):
            raise _held(path, _read_holder(fd), hint)
        if not _same_file(fd, path):
            os.close(fd)
            return None
        holder = _read_holder(fd)
        if not _is_stale(holder, path):
            raise _held(path, holder, hint)
        log.warning("note: taking over the lock %s left by %s, which is no longer running", path, _describe(holder))
        _write_holder(fd)
        return fd
    except BaseException:
        with contextlib.suppress(OSError):
            os.close(fd)
        raise


def _release(path: Path, fd: int) -> None:
    """Remove the lock file (if it is still ours) and close it, which drops the flock."""
    try:
        if _same_file(fd, path):
            path.unlink(missing_ok=True)
    finally:
        os.close(fd)


def _flock(fd: int, *, blocking: bool) -> bool:
    """``fcntl.flock`` the descriptor; ``False`` if another holds it (``True`` without fcntl)."""
    try:
        import fcntl
    except ImportError:  # Windows: the O_EXCL file and its pid alone
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:  # a file system without flock: the O_EXCL file and its pid alone
        return True
    return True


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open as ``fd`` (not removed or replaced)."""
    try:
        here, there = os.fstat(fd), os.stat(path)
    except FileNotFoundError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def _write_holder(fd: int) -> None:
    """Record this process (pid, host, start time) in the lock file."""
    holder = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(holder).encode(), 0)


def _read_holder(fd: int) -> dict[str, Any] | None:
    """The holder a lock file records, or ``None`` if it is empty or unreadable."""
    try:
        data = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("pid"), int) or data["pid"] <= 0:
        return None
    return data


def _is_stale(holder: dict[str, Any] | None, path: Path) -> bool:
    """A lock whose holder is certainly gone: a dead pid on this host, or an unreadable
    file older than a moment (its creator died before writing it)."""
    if holder is None:
        try:
            return time.time() - path.stat().st_mtime > _FRESH_LOCK_SECONDS
        except FileNotFoundError:
            return True
    if holder.get("host") != socket.gethostname():
        return False  # another machine's process: it cannot be checked from here
    return not _pid_alive(holder["pid"])


def _pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this host (unknown counts as running)."""
    if os.name == "nt":
        return True  # os.kill would terminate it there
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # e.g. another user's process
    return True


def _describe(holder: dict[str, Any] | None) -> str:
    if holder is None:
        return "an unknown process (the lock file is empty or unreadable)"
    return f"pid {holder['pid']} on {holder.get('host', '?')}" + (f", since {holder['started']}" if holder.get("started") else "")


def _held(path: Path, holder: dict[str, Any] | None, hint: str) -> UsageError:
    folder = path.parent
    return UsageError(
        f"{folder} is being written by another process ({_describe(holder)}; lock {path}): {hint}; "
        f"if that process is no longer running, delete {path}"
    )
