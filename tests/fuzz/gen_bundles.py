"""Broken bundles and output folders, made from the session's trained toy and tabular
bundles: flipped and truncated members (checksums left stale, or re-signed in meta.json
so the parsers behind the check are reached), swapped and missing members, a tampered
meta.json / codec.json / recipe.yaml / model config, codec.npz tricks (an object array,
a header promising more than its bytes, a declared-size bomb, missing or non-numeric
arrays), zip tricks (``../`` names, symlink entries, lying sizes, duplicate names, a
real bomb, encryption flags, extra members) and manifests that lead out of their folder.
"""

from __future__ import annotations

import io
import json
import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .gen_recipes import output_path
from .harness import BROKEN, EITHER, VALID, Assets, Case
from .mutate import flip_bytes, npy_bytes, patch_declared_size, patch_flags, pick, resign, truncate, write_zip

GROUP = "bundles"

CONTENT = ("model.keras", "codec.json", "codec.npz", "recipe.yaml")
MEMBERS = CONTENT + ("meta.json",)


@dataclass
class Broken:
    """A mutated bundle (folder or zip) and what a command on it must end with."""

    path: Path
    expect: frozenset[int]
    what: str
    names: tuple[str, ...] = ()
    max_problems: int = 1  # when its recipe.yaml is damaged: the recipe problems that may cause


def _folder_copy(rng, box: Path, assets: Assets) -> tuple[Path, str]:
    source = pick(rng, [assets.toy_bundle, assets.table_bundle])
    target = box / "inputs" / "bundle"
    shutil.copytree(source, target)
    return target, "toy" if source == assets.toy_bundle else "table"


def _members(folder: Path) -> list[tuple[str, bytes]]:
    return [(name, (folder / name).read_bytes()) for name in MEMBERS]


def _info(name: str, compression: int = zipfile.ZIP_DEFLATED) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
    info.compress_type = compression
    return info


def _npz(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


# ---------------------------------------------------------------------- bundle folders


def member_flip(rng, box, assets):
    folder, kind = _folder_copy(rng, box, assets)
    name = pick(rng, MEMBERS)
    data, where = flip_bytes(rng, (folder / name).read_bytes())
    (folder / name).write_bytes(data)
    expect = EITHER if name == "meta.json" else BROKEN  # a flip in meta.json may hit a timestamp
    return Broken(folder, expect, f"{kind} bundle: {name} {where}, checksum stale", (name,))


def member_truncate(rng, box, assets):
    folder, kind = _folder_copy(rng, box, assets)
    name = pick(rng, MEMBERS)
    data, where = truncate(rng, (folder / name).read_bytes())
    (folder / name).write_bytes(data)
    return Broken(folder, BROKEN, f"{kind} bundle: {name} {where}, checksum stale", (name,))


def member_flip_resigned(rng, box, assets):
    folder, kind = _folder_copy(rng, box, assets)
    name = pick(rng, CONTENT)
    data, where = flip_bytes(rng, (folder / name).read_bytes())
    (folder / name).write_bytes(data)
    resign(folder)
    return Broken(folder, EITHER, f"{kind} bundle: {name} {where}, re-signed", (name,), max_problems=3)


def member_truncate_resigned(rng, box, assets):
    folder, kind = _folder_copy(rng, box, assets)
    name = pick(rng, CONTENT)
    data, where = truncate(rng, (folder / name).read_bytes())
    (folder / name).write_bytes(data)
    resign(folder)
    expect = EITHER if name == "recipe.yaml" else BROKEN  # a recipe cut at a line end may stay valid
    return Broken(folder, expect, f"{kind} bundle: {name} {where}, re-signed", (name,), max_problems=3)


def member_swap(rng, box, assets):
    folder, kind = _folder_copy(rng, box, assets)
    a, b = pick(rng, [("model.keras", "codec.npz"), ("codec.json", "recipe.yaml"), ("codec.npz", "codec.json"), ("meta.json", "codec.json")])
    da, db = (folder / a).read_bytes(), (folder / b).read_bytes()
    (folder / a).write_bytes(db)
    (folder / b).write_bytes(da)
    signed = "meta.json" not in (a, b) and bool(rng.random() < 0.5)
    if signed:
        resign(folder)
    many = 99 if "recipe.yaml" in (a, b) else 1  # another file read as the recipe: each of its keys is a problem
    return Broken(folder, BROKEN, f"{kind} bundle: {a} and {b} swapped" + (", re-signed" if signed else ""), (a, b), max_problems=many)


def member_missing(rng, box, assets):
    folder, kind = _folder_copy(rng, box, assets)
    name = pick(rng, MEMBERS)
    (folder / name).unlink()
    return Broken(folder, BROKEN, f"{kind} bundle without {name}", (name,))


def extra_file(rng, box, assets):
    folder, kind = _folder_copy(rng, box, assets)
    (folder / pick(rng, ["notes.txt", ".DS_Store", "model.keras.bak"])).write_bytes(b"unrelated\n")
    return Broken(folder, VALID, f"{kind} bundle with an unrelated extra file")


def npz_object_array(rng, box, assets):
    folder, kind = _folder_copy(rng, box, assets)
    arrays = dict(np.load(folder / "codec.npz"))
    key = pick(rng, sorted(arrays))
    arrays[key] = np.array([{"a": 1}, None, "text"], dtype=object)  # pickled by np.savez
    (folder / "codec.npz").write_bytes(_npz(arrays))
    resign(folder)
    return Broken(folder, BROKEN, f"{kind} bundle: codec.npz[{key!r}] an object (pickle) array, re-signed", ("codec.npz",))


def npz_header_lie(rng, box, assets):
    folder, kind = _folder_copy(rng, box, assets)
    arrays = dict(np.load(folder / "codec.npz"))
    key = pick(rng, sorted(arrays))
    shape = pick(rng, [(10**9,), (10**6, 10**6), (2**40,), (-1,)])
    members = [(f"{k}.npy", npy_bytes(shape, "<f8", b"\0" * 16) if k == key else _npy(v)) for k, v in arrays.items()]
    buf = io.BytesIO()
    write_zip(buf, members, compression=zipfile.ZIP_STORED)
    (folder / "codec.npz").write_bytes(buf.getvalue())
    resign(folder)
    return Broken(folder, BROKEN, f"{kind} bundle: codec.npz[{key!r}] header declares shape {shape} over 16 bytes, re-signed", ("codec.npz",))


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def npz_declared_bomb(rng, box, assets):
    folder, kind = _folder_copy(rng, box, assets)
    data = (folder / "codec.npz").read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        member = pick(rng, zf.namelist())
    size = int(rng.integers(2**31, 2**32 - 1))
    (folder / "codec.npz").write_bytes(patch_declared_size(data, member, size))
    resign(folder)
    return Broken(folder, BROKEN, f"{kind} bundle: codec.npz member {member} declares {size:,} bytes, re-signed", ("codec.npz",))


def npz_missing_array(rng, box, assets):
    folder, kind = _folder_copy(rng, box, assets)
    arrays = dict(np.load(folder / "codec.npz"))
    key = pick(rng, sorted(arrays))
    del arrays[key]
    (folder / "codec.npz").write_bytes(_npz(arrays))
    resign(folder)
    return Broken(folder, BROKEN, f"{kind} bundle: codec.npz without {key!r}, re-signed", ("codec.npz", key, "codec"))


def npz_text_array(rng, box, assets):
    """Text where the codec keeps numbers (the tabular codec: every array is numeric; the
    toy fixture's codec checks nothing, so it is not fuzzed here)."""
    folder = box / "inputs" / "bundle"
    shutil.copytree(assets.table_bundle, folder)
    kind = "table"
    arrays = dict(np.load(folder / "codec.npz"))
    key = pick(rng, sorted(arrays))
    original = arrays[key]
    arrays[key] = np.full(original.shape, "text") if original.size else np.array(["text"])
    (folder / "codec.npz").write_bytes(_npz(arrays))
    resign(folder)
    return Broken(folder, EITHER, f"{kind} bundle: codec.npz[{key!r}] holds text where numbers belong, re-signed", ("codec.npz", key, "codec"))


CODEC_JSON = (
    ("an empty object", b"{}"),
    ("a list", b"[1, 2, 3]"),
    ("null", b"null"),
    ("deep nesting", b"[" * 100_000 + b"]" * 100_000),
    ("not JSON", b"{'python': 'dict'}"),
    ("not UTF-8", b'{"kind": "\xff\xfe"}'),
)


def codec_json_tamper(rng, box, assets):
    folder, kind = _folder_copy(rng, box, assets)
    what, data = pick(rng, CODEC_JSON)
    (folder / "codec.json").write_bytes(data)
    resign(folder)
    # the toy codec ignores its config: any JSON value loads there
    expect = EITHER if kind == "toy" and what in ("an empty object", "a list", "null") else BROKEN
    return Broken(folder, expect, f"{kind} bundle: codec.json is {what}, re-signed", ("codec.json", "codec"))


def _meta_variants(meta: dict) -> list[tuple[str, object, frozenset[int]]]:
    def changed(**kw):
        m = dict(meta)
        for k, v in kw.items():
            if v is _DROP:
                m.pop(k, None)
            else:
                m[k] = v
        return m

    files = dict(meta["files"])
    return [
        ("not JSON", b"{not json", BROKEN),
        ("a list", [meta], BROKEN),
        ("deep nesting", b"[" * 100_000 + b"]" * 100_000, BROKEN),
        ("not UTF-8", b'{"format": "\xff"}', BROKEN),
        ("format_version 2", changed(format_version=2), BROKEN),
        ("format_version '1'", changed(format_version="1"), BROKEN),
        ("domaingen_version 99.0", changed(domaingen_version="99.0"), BROKEN),
        ("domaingen_version a number", changed(domaingen_version=5), BROKEN),
        ("keras_version 2.15", changed(keras_version="2.15.0"), BROKEN),
        ("keras_version null", changed(keras_version=None), BROKEN),
        ("no weights_sha256", changed(weights_sha256=_DROP), BROKEN),
        ("no files", changed(files=_DROP), BROKEN),
        ("files lists an extra file", changed(files={**files, "evil.py": "0" * 64}), BROKEN),
        ("files misses one", changed(files={k: v for k, v in list(files.items())[1:]}), BROKEN),
        ("a checksum is a number", changed(files={**files, "codec.npz": 5}), BROKEN),
        ("a checksum of the wrong file", changed(files={**files, "codec.npz": files["codec.json"]}), BROKEN),
        ("recipe_dir a number", changed(recipe_dir=5), EITHER),
        ("recipe_dir a list", changed(recipe_dir=["a", "b"]), EITHER),
        ("recipe_dir with a NUL", changed(recipe_dir="/tmp/\x00x"), EITHER),
        ("recipe_dir missing", changed(recipe_dir="/nonexistent/place"), EITHER),
        ("seed text", changed(seed="abc"), EITHER),
        ("history garbage", changed(history={"loss": "x"}), EITHER),
        ("format another", changed(format="zip-of-things"), BROKEN),
    ]


_DROP = object()


def meta_tamper(rng, box, assets):
    folder, kind = _folder_copy(rng, box, assets)
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    what, value, expect = pick(rng, _meta_variants(meta))
    data = value if isinstance(value, bytes) else json.dumps(value).encode()
    (folder / "meta.json").write_bytes(data)
    return Broken(folder, expect, f"{kind} bundle: meta.json {what}", ("meta.json", "format version", "domaingen", "Keras", "checksum", "bundle"))


def _rewrite_zip(data: bytes, change) -> bytes:
    """A zip's bytes with ``change(name, bytes) -> bytes`` applied to each member."""
    members = []
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            members.append((info.filename, change(info.filename, zf.read(info))))
    buf = io.BytesIO()
    write_zip(buf, members)
    return buf.getvalue()


def model_config_tamper(rng, box, assets):
    folder, kind = _folder_copy(rng, box, assets)
    what = pick(rng, ["an unknown class", "a function from os", "a Lambda layer", "no config", "not JSON"])

    def change(name: str, data: bytes) -> bytes:
        if name != "config.json":
            return data
        if what == "not JSON":
            return b"{broken"
        config = json.loads(data)
        if what == "an unknown class":
            config.update(class_name="NoSuchModel", registered_name="nowhere>NoSuchModel")
        elif what == "a function from os":
            config.update(module="os", class_name="system", registered_name=None, config={"command": "touch pwned"})
        elif what == "a Lambda layer":
            config.update(module="keras.layers", class_name="Lambda", registered_name=None,
                          config={"function": {"class_name": "__lambda__", "config": {"code": "touch pwned", "defaults": None, "closure": None}}})
        else:
            config.pop("config", None)
        return json.dumps(config).encode()

    (folder / "model.keras").write_bytes(_rewrite_zip((folder / "model.keras").read_bytes(), change))
    resign(folder)
    return Broken(folder, BROKEN, f"{kind} bundle: model.keras config has {what}, re-signed", ("model.keras",))


def model_declared_bomb(rng, box, assets):
    folder, kind = _folder_copy(rng, box, assets)
    data = (folder / "model.keras").read_bytes()
    member = pick(rng, ["model.weights.h5", "config.json"])
    size = int(rng.integers(2**31, 2**32 - 1))
    (folder / "model.keras").write_bytes(patch_declared_size(data, member, size))
    resign(folder)
    return Broken(folder, BROKEN, f"{kind} bundle: model.keras member {member} declares {size:,} bytes, re-signed", ("model.keras",))


RECIPES = (
    ("an alias bomb", "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"),
    ("invalid YAML", "data: {plugin: toy\n"),
    ("an unknown plugin", "schema_version: 1\ndata: {plugin: nosuchplugin, source: x}\n"),
    ("epochs beyond the bound", None),
    ("not UTF-8", "name: caf\udce9\n"),
    ("empty", ""),
)


def recipe_tamper(rng, box, assets):
    folder, kind = _folder_copy(rng, box, assets)
    what, text = pick(rng, RECIPES)
    if text is None:
        text = (folder / "recipe.yaml").read_text(encoding="utf-8").replace("epochs: 1", "epochs: 99999999999999999999")
    (folder / "recipe.yaml").write_bytes(text.encode("utf-8", errors="surrogateescape"))
    resign(folder)
    return Broken(folder, BROKEN, f"{kind} bundle: recipe.yaml is {what}, re-signed", ("recipe", "bundle"))


def identity_folder(rng, box, assets):
    folder, kind = _folder_copy(rng, box, assets)
    return Broken(folder, VALID, f"the {kind} bundle folder unchanged")


# ------------------------------------------------------------------------------ bundle zips


def _zip_from(rng, box: Path, assets: Assets, members: list, compression: int = zipfile.ZIP_DEFLATED) -> Path:
    path = box / "inputs" / "bundle.zip"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_zip(path, members, compression)
    return path


def _source_members(rng, assets: Assets) -> tuple[list[tuple[str, bytes]], str]:
    source = pick(rng, [assets.toy_bundle, assets.table_bundle])
    return _members(source), "toy" if source == assets.toy_bundle else "table"


def zip_flip(rng, box, assets):
    path = box / "inputs" / "bundle.zip"
    data, where = flip_bytes(rng, assets.toy_zip.read_bytes())
    path.write_bytes(data)
    return Broken(path, EITHER, f"bundle zip {where}", ("bundle.zip",))


def zip_truncate(rng, box, assets):
    path = box / "inputs" / "bundle.zip"
    data, where = truncate(rng, assets.toy_zip.read_bytes())
    path.write_bytes(data)
    return Broken(path, BROKEN, f"bundle zip {where}", ("bundle.zip",))


def zip_dotdot(rng, box, assets):
    members, kind = _source_members(rng, assets)
    i = int(rng.integers(len(members)))
    name = pick(rng, ["../", "../../", "/tmp/", "..\\", "sub/../../"]) + members[i][0]
    members[i] = (name, members[i][1])
    if rng.random() < 0.5:  # and a member for outside only
        members.append((pick(rng, ["../outside.txt", "../../../tmp/pwned", "/tmp/pwned-abs"]), b"escaped\n"))
    return Broken(_zip_from(rng, box, assets, members), BROKEN, f"{kind} bundle zip with member {name!r}", ("bundle.zip",))


def zip_symlink(rng, box, assets):
    members, kind = _source_members(rng, assets)
    i = int(rng.integers(len(members)))
    info = _info(members[i][0])
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    target = pick(rng, ["/etc/passwd", "../outside.txt", "../../../../etc/hostname", str(box / "inputs" / "secret.txt")])
    (box / "inputs").mkdir(parents=True, exist_ok=True)
    (box / "inputs" / "secret.txt").write_text("the user's secret\n")
    members[i] = (info, target.encode())
    return Broken(_zip_from(rng, box, assets, members), BROKEN, f"{kind} bundle zip: {info.filename} a symlink to {target}", ("bundle.zip", info.filename))


def zip_declared_size(rng, box, assets):
    members, kind = _source_members(rng, assets)
    buf = io.BytesIO()
    write_zip(buf, members)
    name = pick(rng, [m[0] for m in members])
    size = int(rng.integers(2**31, 2**32 - 1))
    path = box / "inputs" / "bundle.zip"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(patch_declared_size(buf.getvalue(), name, size))
    return Broken(path, BROKEN, f"{kind} bundle zip: {name} declares {size:,} bytes", ("bundle.zip",))


def zip_duplicate(rng, box, assets):
    members, kind = _source_members(rng, assets)
    i = int(rng.integers(len(members)))
    name = members[i][0]
    other = pick(rng, [members[i][1], b"a different content"])
    members.insert(int(rng.integers(len(members) + 1)), (name, other))
    return Broken(_zip_from(rng, box, assets, members), BROKEN, f"{kind} bundle zip with {name} twice", ("bundle.zip", name))


def zip_bomb(rng, box, assets):
    members, kind = _source_members(rng, assets)
    name = pick(rng, CONTENT)
    size = int(rng.integers(9, 33)) << 20
    members = [(n, b"\0" * size if n == name else d) for n, d in members]
    path = box / "inputs" / "bundle.zip"
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for n, d in members:
            zf.writestr(_info(n), d)
    return Broken(path, BROKEN, f"{kind} bundle zip: {name} {size >> 20} MiB of zeros ({path.stat().st_size:,} bytes zipped)", ("bundle.zip",))


def zip_odd_members(rng, box, assets):
    members, kind = _source_members(rng, assets)
    what = pick(rng, ["an extra member", "an encrypted flag", "a folder entry", "a missing member", "names swapped", "a nested folder"])
    if what == "an extra member":
        members.append((pick(rng, ["evil.py", "__init__.py", "model.keras.bak", ".hidden"]), b"print('hi')\n"))
    elif what == "an encrypted flag":
        name = pick(rng, [m[0] for m in members])
        path = _zip_from(rng, box, assets, members)
        path.write_bytes(patch_flags(path.read_bytes(), name, 0x1))
        return Broken(path, BROKEN, f"{kind} bundle zip with {name} flagged encrypted", ("bundle.zip", "encrypted"))
    elif what == "a folder entry":
        members.append((_info("model.keras/"), b""))
    elif what == "a missing member":
        members.pop(int(rng.integers(len(members))))
    elif what == "names swapped":
        names = [m[0] for m in members]
        a, b = rng.choice(len(names), size=2, replace=False)
        members[a], members[b] = (names[a], members[b][1]), (names[b], members[a][1])
    else:
        members = [(f"bundle/{n}", d) for n, d in members]
    return Broken(_zip_from(rng, box, assets, members), BROKEN, f"{kind} bundle zip with {what}", ("bundle.zip",))


def zip_identity(rng, box, assets):
    members, kind = _source_members(rng, assets)
    compression = pick(rng, [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED])
    return Broken(_zip_from(rng, box, assets, members, compression), VALID, f"the {kind} bundle zipped again")


BUNDLE_MUTATIONS = (
    member_flip, member_truncate, member_flip_resigned, member_truncate_resigned, member_swap, member_missing,
    extra_file, npz_object_array, npz_header_lie, npz_declared_bomb, npz_missing_array, npz_text_array,
    codec_json_tamper, meta_tamper, model_config_tamper, model_declared_bomb, recipe_tamper, identity_folder,
    zip_flip, zip_truncate, zip_dotdot, zip_symlink, zip_declared_size, zip_duplicate, zip_bomb, zip_odd_members,
    zip_identity,
)


# ------------------------------------------------------------------------------- manifests


def _output_copy(box: Path, assets: Assets) -> Path:
    target = box / "inputs" / "output"
    shutil.copytree(assets.toy_output, target)
    (box / "inputs" / "secret.txt").write_text("the user's secret, beside the output folder\n")
    return target


def _tamper_manifest(rng, folder: Path) -> tuple[str, frozenset[int]]:
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    entry = manifest["shards"][0]["files"][0]
    what = pick(rng, ["a ../ path", "an absolute path", "a path through ..", "a symlinked shard", "corrupt JSON", "deep nesting",
                      "shards not a list", "negative records", "a NUL in a path", "not UTF-8"])
    raw = None
    if what == "a ../ path":
        entry["path"] = "../secret.txt"
    elif what == "an absolute path":
        entry["path"] = str(folder.parent / "secret.txt")
    elif what == "a path through ..":
        entry["path"] = "part-00000.jsonl/../../secret.txt"
    elif what == "a symlinked shard":
        shard = folder / entry["path"]
        shard.unlink()
        shard.symlink_to(folder.parent / "secret.txt")
    elif what == "corrupt JSON":
        raw = b'{"shards": [{"index": 0, '
    elif what == "deep nesting":
        raw = b'{"shards": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    elif what == "shards not a list":
        manifest["shards"] = {"0": entry}
    elif what == "negative records":
        manifest["shards"][0]["records"] = -5
    elif what == "a NUL in a path":
        entry["path"] = "part-00000.jsonl\x00.txt"
    else:
        raw = json.dumps(manifest).encode().replace(b'"jsonl"', b'"json\xffl"', 1)
    (folder / "manifest.json").write_bytes(raw if raw is not None else json.dumps(manifest).encode())
    return what, BROKEN


def manifest_evaluate(rng, box: Path, assets: Assets, index: int) -> Case:
    """``evaluate --synthetic FOLDER`` on a folder whose manifest leads outside it or is corrupt."""
    folder = _output_copy(box, assets)
    what, expect = _tamper_manifest(rng, folder)
    out, state = output_path(rng, box)
    args = ["evaluate", "--recipe", str(assets.toy_recipe), "--synthetic", str(folder), "--out", str(out)]
    return Case(GROUP, index, "manifest_evaluate", f"manifest with {what} ({state})", args, expect, "evaluate", out, ("manifest.json",), box)


def manifest_generate(rng, box: Path, assets: Assets, index: int) -> Case:
    """``generate`` into an existing output folder: a tampered manifest (refused, or with
    ``--overwrite`` replaced, never followed out of the folder), another run's complete
    output (refused without ``--overwrite``), or a resume with a killed run's temporary
    left behind (completed, the temporary removed)."""
    folder = _output_copy(box, assets)
    how = pick(rng, ["tampered", "tampered --overwrite", "other run", "other run --overwrite", "resume with a stale temporary"])
    extra: list[str] = []
    names: tuple[str, ...] = ("manifest.json",)
    if how.startswith("tampered"):
        what, expect = _tamper_manifest(rng, folder)
        if how.endswith("--overwrite"):
            extra, expect = ["--overwrite"], EITHER
        how = f"{how}: {what}"
    elif how.startswith("other run"):
        extra = ["--seed", "99"] + (["--overwrite"] if how.endswith("--overwrite") else [])
        expect, names = (VALID, ()) if "--overwrite" in extra else (BROKEN, ("--overwrite",))
    else:
        (folder / ".part-00001.jsonl.a1b2c3d4.tmp").write_text('{"x": 1}\n')
        expect = VALID
    args = ["generate", str(assets.toy_bundle), "-n", "50", "--shard-size", "20", "--out", str(folder), *extra]
    return Case(GROUP, index, "manifest_generate", how, args, expect, "generate", folder, names, box)


def make_case(index: int, rng: np.random.Generator, box: Path, assets: Assets) -> Case:
    """Bundle case ``index``: a mutated bundle under ``generate``, ``evaluate --bundle`` or
    ``sample``, or a mutated output folder under ``evaluate`` / ``generate``."""
    mutations = (*BUNDLE_MUTATIONS, manifest_evaluate, manifest_generate)
    mutation = mutations[index % len(mutations)]
    (box / "inputs").mkdir()
    if mutation in (manifest_evaluate, manifest_generate):
        return mutation(rng, box, assets, index)
    broken = mutation(rng, box, assets)
    command = pick(rng, ["generate", "generate", "generate", "evaluate", "sample"])
    if command == "generate":
        out, state = output_path(rng, box)
        args = ["generate", str(broken.path), "-n", str(int(rng.integers(1, 40))), "--out", str(out)]
    elif command == "evaluate":
        out, state = output_path(rng, box)
        args = ["evaluate", "--bundle", str(broken.path), "--out", str(out)]
    else:
        out, state = None, "no output"
        args = ["sample", str(broken.path), "-n", "2"]
    return Case(GROUP, index, mutation.__name__, f"{broken.what} ({state})", args, broken.expect, command, out, broken.names, box, broken.max_problems)
