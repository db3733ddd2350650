"""Seeded byte-, YAML- and zip-level mutations the generators share.

Every function takes the case's ``numpy.random.Generator`` and is deterministic given it.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "flip_bytes",
    "truncate",
    "insert",
    "invalid_utf8",
    "dump_yaml",
    "typo",
    "pick",
    "resign",
    "write_zip",
    "patch_declared_size",
    "patch_flags",
    "npy_bytes",
]


def pick(rng: np.random.Generator, items: Any) -> Any:
    """One of ``items`` (a sequence), chosen by ``rng``."""
    items = list(items)
    return items[int(rng.integers(len(items)))]


def flip_bytes(rng: np.random.Generator, data: bytes, count: int | None = None, start: int = 0, stop: int | None = None) -> tuple[bytes, str]:
    """``data`` with ``count`` (1..8) bytes in ``[start, stop)`` XOR-ed with a random non-zero
    value; returns the bytes and where they were changed."""
    stop = len(data) if stop is None else min(stop, len(data))
    if stop <= start:
        return data, "nothing to flip"
    count = int(rng.integers(1, 9)) if count is None else count
    out = bytearray(data)
    where = sorted(int(i) for i in rng.integers(start, stop, size=count))
    for i in where:
        out[i] ^= int(rng.integers(1, 256))
    return bytes(out), f"{count} byte(s) flipped at {where[:8]}"


def truncate(rng: np.random.Generator, data: bytes, low: int = 0, high: int | None = None) -> tuple[bytes, str]:
    """``data`` cut at a random length in ``[low, high)`` (at most ``len(data) - 1``)."""
    high = len(data) if high is None else min(high, len(data))
    low = min(low, max(high - 1, 0))
    cut = int(rng.integers(low, max(high, low + 1)))
    return data[:cut], f"truncated to {cut:,} of {len(data):,} bytes"


def insert(rng: np.random.Generator, data: bytes, chunk: bytes, start: int = 0) -> tuple[bytes, str]:
    """``chunk`` inserted at a random offset at or after ``start``."""
    at = int(rng.integers(min(start, len(data)), len(data) + 1))
    return data[:at] + chunk + data[at:], f"{chunk!r} inserted at byte {at:,}"


INVALID_UTF8 = (b"\xff", b"\xfe\xff", b"\xc3\x28", b"\xe2\x28\xa1", b"\x80", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"caf\xe9")


def invalid_utf8(rng: np.random.Generator, data: bytes, start: int = 0) -> tuple[bytes, str]:
    """``data`` with a sequence that is not UTF-8 (a stray continuation byte, a surrogate,
    a Latin-1 character...) inserted at a random offset."""
    return insert(rng, data, pick(rng, INVALID_UTF8), start)


def dump_yaml(document: Any) -> str:
    """``document`` as block-style YAML text (ruamel, as recipes are written)."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    buf = io.StringIO()
    yaml.dump(document, buf)
    return buf.getvalue()


def typo(rng: np.random.Generator, word: str, avoid: set[str]) -> str:
    """A misspelling of ``word`` (two letters swapped, one dropped, doubled or changed)
    that is none of ``avoid``."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    for _ in range(50):
        w = list(word)
        i = int(rng.integers(len(w)))
        how = int(rng.integers(4))
        if how == 0 and len(w) > 1:
            j = min(i + 1, len(w) - 1) if i + 1 < len(w) else i - 1
            w[i], w[j] = w[j], w[i]
        elif how == 1 and len(w) > 2:
            del w[i]
        elif how == 2:
            w.insert(i, w[i])
        else:
            w[i] = pick(rng, letters)
        candidate = "".join(w)
        if candidate != word and candidate not in avoid:
            return candidate
    return word + "x"


def resign(folder: Path) -> None:
    """Recompute the SHA-256 of every content file in a bundle's meta.json: a tampered
    bundle that passes the checksum check, so the parsers behind it are reached."""
    meta_path = folder / "meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    for name in list(meta.get("files", {})):
        path = folder / name
        if path.is_file():
            meta["files"][name] = hashlib.sha256(path.read_bytes()).hexdigest()
    meta_path.write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")


def write_zip(path: Path | io.BytesIO, members: list[tuple[zipfile.ZipInfo | str, bytes]], compression: int = zipfile.ZIP_DEFLATED) -> None:
    """A zip of ``members`` exactly as given (names may repeat; ZipInfo attributes kept)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names: they are the point
        with zipfile.ZipFile(path, "w", compression=compression) as zf:
            for info, data in members:
                if isinstance(info, str):
                    info = zipfile.ZipInfo(info, date_time=(2024, 1, 1, 0, 0, 0))
                    info.compress_type = compression
                zf.writestr(info, data)


def patch_declared_size(data: bytes, member: str, size: int) -> bytes:
    """A zip's bytes with ``member``'s uncompressed size in its central directory entry
    (and local header) replaced by ``size`` (< 4 GiB): a header that lies about what the
    member expands to."""
    out = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.getinfo(member)
    local = info.header_offset
    struct.pack_into("<I", out, local + 22, size)
    at = 0
    name = member.encode()
    while (at := bytes(out).find(b"PK\x01\x02", at)) != -1:
        name_len = struct.unpack_from("<H", out, at + 28)[0]
        if bytes(out[at + 46 : at + 46 + name_len]) == name:
            struct.pack_into("<I", out, at + 24, size)
            break
        at += 4
    return bytes(out)


def patch_flags(data: bytes, member: str, bits: int) -> bytes:
    """A zip's bytes with ``bits`` set in ``member``'s general-purpose flags, in its local
    header and its central directory entry (zipfile resets the flags it is given when
    writing, so an "encrypted" member must be made afterwards)."""
    out = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.getinfo(member)
    local = info.header_offset
    struct.pack_into("<H", out, local + 6, struct.unpack_from("<H", out, local + 6)[0] | bits)
    at = 0
    name = member.encode()
    while (at := bytes(out).find(b"PK\x01\x02", at)) != -1:
        name_len = struct.unpack_from("<H", out, at + 28)[0]
        if bytes(out[at + 46 : at + 46 + name_len]) == name:
            struct.pack_into("<H", out, at + 8, struct.unpack_from("<H", out, at + 8)[0] | bits)
            break
        at += 4
    return bytes(out)


def npy_bytes(shape: tuple[int, ...], dtype: str, payload: bytes) -> bytes:
    """A ``.npy`` file whose header declares ``shape`` and ``dtype`` over ``payload`` (which
    may be far shorter than the header promises)."""
    header = repr({"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape}).encode("latin1")
    pad = 64 - (10 + len(header) + 1) % 64
    header = header + b" " * pad + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + payload
