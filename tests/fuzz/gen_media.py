"""Broken media for the images, text and music plugins: corrupt and truncated PNG / JPEG,
decompression-bomb headers (PNG, BMP), files that are not images at all; text that is
not UTF-8 (stray bytes, UTF-16), NUL bytes, empty files, sources over ``max_bytes``;
truncated, corrupt and random MIDI, WAV files cut in their header, declaring a 1 Hz
sample rate or holding text; and broken synthetic shards read back by ``evaluate``.

Sources are read by ``train`` with a tiny model (one epoch) so a mutation that leaves the
input valid trains in a second or so.
"""

from __future__ import annotations

import copy
import io
import json
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .gen_recipes import output_path
from .harness import BROKEN, EITHER, VALID, Assets, Case
from .mutate import dump_yaml, flip_bytes, insert, invalid_utf8, pick, truncate

GROUP = "media"

IMAGES = {
    "schema_version": 1, "name": "fuzz-images", "seed": 1,
    "data": {"plugin": "images", "source": "images", "options": {"image_size": [8, 8], "channels": 1}},
    "model": {"family": "vae", "options": {"latent_dim": 2, "hidden": [8], "conv_filters": [4]}},
    "train": {"epochs": 1, "batch_size": 8}, "generate": {"n": 2}, "evaluate": {"enabled": False},
}
TEXT = {
    "schema_version": 1, "name": "fuzz-text", "seed": 1,
    "data": {"plugin": "text", "source": "texts", "options": {"seq_len": 16}},
    "model": {"family": "transformer", "options": {"dim": 8, "heads": 1, "layers": 1, "ff_dim": 8}},
    "train": {"epochs": 1, "batch_size": 8}, "generate": {"n": 1, "options": {"max_chars": 10}}, "evaluate": {"enabled": False},
}
MUSIC = {
    "schema_version": 1, "name": "fuzz-music", "seed": 1,
    "data": {"plugin": "music", "source": "music", "options": {"representation": "melody", "window_bars": 2, "hop_bars": 1, "audio_tempo": 120}},
    "model": {"family": "rnn", "options": {"units": 8, "layers": 1, "embedding_dim": 4}},
    "train": {"epochs": 1, "batch_size": 8}, "generate": {"n": 1}, "evaluate": {"enabled": False},
}
SENTENCES = (
    "The quick brown fox jumps over the lazy dog.", "A recipe names its data instead of holding it.",
    "Synthetic data should look like the real thing.", "Every bad input gets a clear message.",
    "Nothing half-written is left behind.", "Seeds make every run repeatable.",
)


@dataclass
class Media:
    """A mutated media source: its files (name -> bytes, under the source folder), what
    the command must end with, recipe option changes and the file the message must name."""

    recipe: dict
    files: dict[str, bytes]
    expect: frozenset[int]
    what: str
    names: tuple[str, ...] = ()
    options: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------- images


def _image(rng, fmt: str) -> bytes:
    from PIL import Image

    pixels = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    image = Image.fromarray(pixels).convert(pick(rng, ["L", "RGB"]) if fmt != "BMP" else "RGB")
    buf = io.BytesIO()
    image.save(buf, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buf.getvalue()


def _image_folder(rng) -> dict[str, bytes]:
    files = {}
    for label in ("a", "b"):
        files[f"{label}/0.png"] = _image(rng, "PNG")
        files[f"{label}/1.png"] = _image(rng, "PNG")
        files[f"{label}/2.jpg"] = _image(rng, "JPEG")
    return files


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def _png_bomb(width: int, height: int) -> bytes:
    """A valid-looking PNG declaring ``width`` x ``height`` over a few bytes of data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\0" * 4096)) + _png_chunk(b"IEND", b"")


def _bmp_bomb(width: int, height: int) -> bytes:
    header = struct.pack("<2sIHHI", b"BM", 54, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 0, 0, 0, 0)
    return header + b"\0" * 6


def _one(files: dict[str, bytes], rng, suffix: str) -> str:
    return pick(rng, sorted(n for n in files if n.endswith(suffix)))


def png_truncate(rng):
    files = _image_folder(rng)
    name = _one(files, rng, ".png")
    data = files[name]
    at = data.index(b"IDAT")
    half = at + 4 + struct.unpack(">I", data[at - 4 : at])[0] // 2
    files[name], where = truncate(rng, data, high=half)  # half the pixel data at least is lost (a cut CRC alone may pass)
    return Media(IMAGES, files, BROKEN, f"{name} {where}", (name.split("/")[-1],))


def _flipped(rng, suffix: str) -> Media:
    """An image folder with bytes flipped in one of its ``suffix`` files (may still decode)."""
    files = _image_folder(rng)
    name = _one(files, rng, suffix)
    files[name], where = flip_bytes(rng, files[name])
    return Media(IMAGES, files, EITHER, f"{name} {where}", (name.split("/")[-1],))


def png_flip(rng):
    return _flipped(rng, ".png")


def jpeg_truncate(rng):
    files = _image_folder(rng)
    name = _one(files, rng, ".jpg")
    files[name], where = truncate(rng, files[name], high=len(files[name]) // 2)
    return Media(IMAGES, files, BROKEN, f"{name} {where}", (name.split("/")[-1],))


def jpeg_flip(rng):
    return _flipped(rng, ".jpg")


def image_bomb(rng):
    files = _image_folder(rng)
    side = int(rng.integers(7_000, 60_000))
    if rng.random() < 0.6:
        files["b/bomb.png"], what = _png_bomb(side, side), f"PNG header declaring {side}x{side}"
        name = "bomb.png"
    else:
        files["b/bomb.bmp"], what = _bmp_bomb(side, side), f"BMP header declaring {side}x{side}"
        name = "bomb.bmp"
    return Media(IMAGES, files, BROKEN, what, (name,))


def not_an_image(rng):
    files = _image_folder(rng)
    name = pick(rng, ["a/noise.png", "b/empty.jpg", "a/text.bmp", "b/html.webp"])
    files[name] = {"noise": rng.integers(0, 256, 500, dtype=np.uint8).tobytes(), "empty": b"", "text": b"just text, not pixels\n",
                   "html": b"<html><body>404 not found</body></html>"}[name.split("/")[1].split(".")[0]]
    return Media(IMAGES, files, BROKEN, f"{name} is not an image", (name.split("/")[-1],))


def images_valid(rng):
    files = _image_folder(rng)
    files["a/notes.txt"] = b"not an image, ignored\n"
    return Media(IMAGES, files, VALID, "a valid image folder (a notes.txt beside)")


# ------------------------------------------------------------------------------------ text


def _texts(rng) -> dict[str, bytes]:
    def paragraph():
        return " ".join(pick(rng, SENTENCES) for _ in range(int(rng.integers(2, 5))))

    return {
        "a.txt": "\n\n".join(paragraph() for _ in range(4)).encode(),
        "b.md": ("# Notes\n\n" + "\n\n".join(paragraph() for _ in range(3))).encode(),
    }


def text_invalid_utf8(rng):
    files = _texts(rng)
    name = pick(rng, sorted(files))
    files[name], where = invalid_utf8(rng, files[name])
    if rng.random() < 0.3:
        return Media(TEXT, files, VALID, f"{name} not UTF-8 ({where}), encoding_errors: replace", options={"encoding_errors": "replace"})
    return Media(TEXT, files, BROKEN, f"{name} not UTF-8: {where}", (name,))


def text_utf16(rng):
    files = _texts(rng)
    name = pick(rng, sorted(files))
    files[name] = files[name].decode().encode(pick(rng, ["utf-16", "utf-16-le", "utf-32"]))
    return Media(TEXT, files, BROKEN, f"{name} saved as UTF-16/32", (name,))


def text_nul(rng):
    files = _texts(rng)
    name = pick(rng, sorted(files))
    files[name], where = insert(rng, files[name], b"\x00" * int(rng.integers(1, 20)))
    return Media(TEXT, files, EITHER, f"{name} with NUL bytes: {where}", (name,))


def text_empty(rng):
    files = _texts(rng)
    if rng.random() < 0.5:
        files = {name: b"" for name in files}
        return Media(TEXT, files, BROKEN, "every text file empty", ("texts",))
    files["c.txt"] = pick(rng, [b"", b"\n\n\n", b"   "])
    return Media(TEXT, files, EITHER, "one empty text file beside the others")


def text_over_max_bytes(rng):
    files = _texts(rng)
    limit = int(rng.integers(1, sum(len(d) for d in files.values())))
    return Media(TEXT, files, BROKEN, f"text source over data.options.max_bytes={limit}", ("max_bytes",), {"max_bytes": limit})


def text_valid(rng):
    return Media(TEXT, _texts(rng), VALID, "a valid text folder")


# ----------------------------------------------------------------------------------- music


def _midi(rng) -> bytes:
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    instrument = pretty_midi.Instrument(0)
    pitches = 60 + rng.choice([0, 2, 4, 5, 7, 9, 11, 12], size=16)
    for i, pitch in enumerate(pitches):
        instrument.notes.append(pretty_midi.Note(90, int(pitch), i * 0.5, i * 0.5 + 0.45))
    pm.instruments.append(instrument)
    buf = io.BytesIO()
    pm.write(buf)
    return buf.getvalue()


def _wav(rng, seconds: float = 0.5, rate: int = 8000) -> bytes:
    import soundfile as sf

    t = np.arange(int(seconds * rate)) / rate
    buf = io.BytesIO()
    sf.write(buf, (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate, format="WAV")
    return buf.getvalue()


def midi_truncate(rng):
    data = _midi(rng)
    cut, where = truncate(rng, data, high=len(data) - 4)  # the end-of-track event is lost
    return Media(MUSIC, {"a.mid": cut}, BROKEN, f"a.mid {where}", ("a.mid",))


def midi_flip(rng):
    data, where = flip_bytes(rng, _midi(rng))
    return Media(MUSIC, {"a.mid": data}, EITHER, f"a.mid {where}", ("a.mid",))


def midi_garbage(rng):
    data = pick(rng, [b"", b"MThd", b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk\xff\xff\xff\xff", rng.integers(0, 256, 300, dtype=np.uint8).tobytes(), b"not midi\n"])
    return Media(MUSIC, {"a.mid": _midi(rng), "b.mid": data}, BROKEN, f"b.mid is {data[:16]!r}...", ("b.mid",))


def wav_broken(rng):
    data = _wav(rng)
    how = pick(rng, ["header cut", "only the header", "RIFF type damaged", "text", "1 Hz sample rate", "data size lies"])
    if how == "header cut":
        data = data[: int(rng.integers(0, 44))]
    elif how == "only the header":
        data = data[:44]
    elif how == "RIFF type damaged":
        data = data[:8] + b"XAVE" + data[12:]
    elif how == "text":
        data = b"just some text, not audio at all"
    elif how == "1 Hz sample rate":
        b = bytearray(data)
        b[24:28] = (1).to_bytes(4, "little")
        b[28:32] = (4).to_bytes(4, "little")
        data = bytes(b)
    else:
        b = bytearray(data)
        at = data.index(b"data") + 4
        b[at : at + 4] = (0x7FFFFFF0).to_bytes(4, "little")
        data = bytes(b)
    expect = EITHER if how == "data size lies" else BROKEN  # readers clamp the data size to the file
    return Media(MUSIC, {"a.mid": _midi(rng), "tone.wav": data}, expect, f"tone.wav: {how}", ("tone.wav",))


def music_valid(rng):
    return Media(MUSIC, {"a.mid": _midi(rng)}, VALID, "a valid MIDI folder")


MUTATIONS = (
    png_truncate, png_flip, jpeg_truncate, jpeg_flip, image_bomb, not_an_image, images_valid,
    text_invalid_utf8, text_utf16, text_nul, text_empty, text_over_max_bytes, text_valid,
    midi_truncate, midi_flip, midi_garbage, wav_broken, music_valid,
)


# ------------------------------------------------------------------------ synthetic shards


def synthetic_shard(rng, box: Path, index: int) -> Case:
    """``evaluate --recipe R --synthetic SHARD``: a generated shard damaged after the fact
    (text JSONL not UTF-8 or not JSON, a MIDI cut short, a PNG that is not one) is refused
    naming it, before any scoring."""
    inputs = box / "inputs"
    kind = pick(rng, ["text", "music", "images"])
    if kind == "text":
        recipe, files = TEXT, _texts(rng)
        line = json.dumps({"text": pick(rng, SENTENCES)}).encode() + b"\n"
        shard, data = "part-00000.jsonl", pick(rng, [invalid_utf8(rng, line * 3)[0], b'{"text": "unclosed\n', b"[1, 2]\n", line + b"\x00\n"])
    elif kind == "music":
        recipe, files = MUSIC, {"a.mid": _midi(rng)}
        shard, data = "piece-0.mid", truncate(rng, _midi(rng), high=20)[0]
    else:
        recipe, files = IMAGES, _image_folder(rng)
        shard, data = "part-00000.png", truncate(rng, _image(rng, "PNG"), high=30)[0]
    _write_source(inputs, recipe, files, {})
    (inputs / shard).write_bytes(data)
    out, state = output_path(rng, box)
    args = ["evaluate", "--recipe", str(inputs / "recipe.yaml"), "--synthetic", str(inputs / shard), "--out", str(out)]
    expect = EITHER if shard.endswith(".jsonl") and b"\x00" in data else BROKEN
    return Case(GROUP, index, "synthetic_shard", f"{kind} shard {shard} damaged ({state})", args, expect, "evaluate", out, (shard,), box)


def _write_source(inputs: Path, recipe: dict, files: dict[str, bytes], options: dict) -> None:
    doc = copy.deepcopy(recipe)
    doc["data"]["options"].update(options)
    source = inputs / doc["data"]["source"]
    for name, data in files.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes(data)
    (inputs / "recipe.yaml").write_text(dump_yaml(doc), encoding="utf-8")


def make_case(index: int, rng: np.random.Generator, box: Path, assets: Assets) -> Case:
    """Media case ``index``: a mutated source folder read by ``train`` (tiny model, one epoch)."""
    mutations = (*MUTATIONS, synthetic_shard)
    mutation = mutations[index % len(mutations)]
    inputs = box / "inputs"
    inputs.mkdir()
    if mutation is synthetic_shard:
        return synthetic_shard(rng, box, index)
    media = mutation(rng)
    _write_source(inputs, media.recipe, media.files, media.options)
    out, state = output_path(rng, box, ("absent", "parents"))
    args = ["train", str(inputs / "recipe.yaml"), "--bundle", str(out)]
    return Case(GROUP, index, mutation.__name__, f"{media.what} ({state})", args, media.expect, "train", out, media.names, box)
