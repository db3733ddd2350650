"""Music plugin speed: batched 8-bar melody generation and WAV rendering.

    python benchmarks/music.py [--pieces 256] [--family transformer] [--epochs 1]

Prints, one line each:
- render: real-time factor of the additive synthesiser (seconds of audio per second
  of wall time) on Bach soprano lines at 22,050 Hz; target >= 20x.
- decode: melodies/s of the melody codec's decode + finishing (key mask, tempo), with
  token arrays from a uniform masked sampler (no model): the plugin's own overhead.
- generate: melodies/s of the whole path (model.generate + decode + finishing) for
  8-bar melodies from a model of the family (``--size small``, or ``full`` as in
  recipes/music-bach-full.yaml) trained for ``--epochs`` on 40 pieces of the embedded
  corpus (speed does not depend on training), in one batch; target >= 50 melodies/s. Skipped, with the reason,
  when the family is not installed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def bench_render(pieces, sample_rate: int = 22050) -> float:
    from domaingen_plugins.music.synth import render

    render(pieces[0], sample_rate)  # warm up librosa
    audio_seconds, started = 0.0, time.perf_counter()
    for p in pieces:
        y = render(p, sample_rate)
        audio_seconds += len(y) / sample_rate
    wall = time.perf_counter() - started
    rtf = audio_seconds / wall
    print(f"render: {audio_seconds:.0f} s of audio in {wall:.2f} s -> {rtf:.0f}x real time (target >= 20x)")
    return rtf


def bench_decode(codec, n: int) -> float:
    from domaingen_plugins.music import plugin
    from domaingen_plugins.music.options import MusicGenerateOptions

    request = plugin.generation_request(codec, MusicGenerateOptions(length_bars=8, key="C major"))
    allowed = np.flatnonzero(request.controls["allowed_tokens"])
    rng = np.random.default_rng(0)
    x = np.concatenate(
        [np.repeat(request.controls["primer"][None], n, 0), rng.choice(allowed, (n, request.controls["max_length"] - 1))], 1
    )
    started = time.perf_counter()
    pieces = request.accept(codec.decode(x, rng))
    wall = time.perf_counter() - started
    print(f"decode: {len(pieces)} melodies in {wall:.3f} s -> {len(pieces) / wall:.0f} melodies/s (codec + finishing only)")
    return len(pieces) / wall


SIZES = {
    "small": {"transformer": {"dim": 64, "layers": 2, "heads": 4, "ff_dim": 128}, "rnn": {"units": 128, "layers": 1}},
    "full": {"transformer": {"dim": 128, "layers": 3, "heads": 4, "ff_dim": 512}, "rnn": {"units": 256, "layers": 2}},
}


def bench_generate(pieces, codec, family_name: str, n: int, epochs: int, size: str = "small") -> float | None:
    from domaingen import registry
    from domaingen.errors import DomaingenError
    from domaingen_plugins.music import plugin
    from domaingen_plugins.music.options import MusicGenerateOptions

    try:
        family = registry.get_family(family_name)
    except DomaingenError as exc:
        print(f"generate: skipped ({exc})")
        return None
    x = codec.encode(pieces)
    chosen = SIZES[size][family_name]
    options = family.Options(**{k: v for k, v in chosen.items() if k in family.Options.model_fields})
    model = family.build(codec.spec, options, seed=0)
    model.train_on(x, epochs=epochs, batch_size=64, learning_rate=1e-3, callbacks=[], seed=0)
    request = plugin.generation_request(codec, MusicGenerateOptions(length_bars=8))
    model.generate(8, seed=1, controls=request.controls)  # compile / warm up
    started = time.perf_counter()
    out = model.generate(n, seed=2, controls=request.controls, batch_size=n)
    melodies = request.accept(codec.decode(out, np.random.default_rng(0)))
    wall = time.perf_counter() - started
    print(
        f"generate: {n} 8-bar melodies ({family_name}, {options.model_dump()}) in {wall:.2f} s -> "
        f"{n / wall:.1f} melodies/s, {len(melodies)} non-empty (target >= 50/s)"
    )
    return n / wall


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pieces", type=int, default=256, help="melodies per generation batch")
    parser.add_argument("--family", default="transformer", choices=("transformer", "rnn"))
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--render-pieces", type=int, default=40)
    parser.add_argument("--size", choices=tuple(SIZES), default="small", help="model size (full = music-bach-full.yaml)")
    args = parser.parse_args(argv)

    from domaingen_plugins.music import plugin
    from domaingen_plugins.music.options import MusicDataOptions

    options = MusicDataOptions(pitch_range=[55, 84])
    pieces = plugin.load("embedded:bach-soprano", options, ".")
    print(f"cpu cores: {os.cpu_count()}, python {sys.version.split()[0]}")
    bench_render(pieces[: args.render_pieces])
    codec = plugin.make_codec(options, "tokens").fit(pieces)  # both benchmarked families take token sequences
    bench_decode(codec, args.pieces)
    bench_generate(pieces[:40], codec, args.family, args.pieces, args.epochs, args.size)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
