"""The music plugin driven by the core: recipes, real model families, bundles."""

import json
from pathlib import Path

import numpy as np
import soundfile as sf

import domaingen as dg
from domaingen import registry
from domaingen_plugins.music import plugin
from domaingen_plugins.music.keys import in_key_mask
from domaingen_plugins.music.options import MusicDataOptions, MusicGenerateOptions

REPO = Path(__file__).resolve().parents[3]


def test_demo_recipe_runs_end_to_end(tmp_path):
    recipe = dg.load_recipe(
        REPO / "recipes" / "music-bach-demo.yaml",
        overrides={
            "train.epochs": 1,
            "data.options.max_pieces": 24,
            "generate.n": 6,
            "evaluate.options.audio_pieces": 3,
            "evaluate.options.audio_seconds": 3,
            "evaluate.options.pitch_check_pieces": 1,
        },
    )
    result = dg.run(recipe, tmp_path / "run")
    mids = sorted(p for p in result.files if p.suffix == ".mid")
    wavs = sorted(p for p in result.files if p.suffix == ".wav")
    assert len(mids) == len(wavs) == 6 and mids[0].name == "part-00000-piece-0000.mid"
    y, sr = sf.read(str(wavs[0]))
    assert sr == 22050 and len(y) > sr  # four bars at ~100 qpm
    report = json.loads((tmp_path / "run" / "report.json").read_text())["metrics"]
    assert set(report["metrics"]) >= {"pitch_class_entropy", "scale_consistency", "groove_consistency"}
    assert report["audio"]["frechet_mfcc_distance"] >= 0
    assert (tmp_path / "run" / "report.html").exists()
    # the bundle reloads and generates the same melodies for the same seed, in key when asked
    bundle = dg.load_bundle(result.bundle_dir)
    a = bundle.generate(5, seed=3, options={"key": "G major"})
    b = bundle.generate(5, seed=3, options={"key": "G major"})
    assert [p.notes.tolist() for p in a] == [p.notes.tolist() for p in b]
    assert all(in_key_mask(p.pitches, "G major").all() for p in a)


def test_trained_transformer_keeps_1000_melodies_in_key():
    pieces = plugin.load("embedded:bach-soprano", MusicDataOptions(max_pieces=30), ".")
    data = MusicDataOptions(pitch_range=[55, 84], window_bars=2, hop_bars=2)
    codec = plugin.make_codec(data, "tokens").fit(pieces)
    family = registry.get_family("transformer")
    model = family.build(codec.spec, family.Options(dim=32, heads=2, layers=1, ff_dim=64), seed=0)
    model.train_on(codec.encode(pieces), epochs=1, batch_size=64, learning_rate=3e-3, callbacks=[], seed=0)
    options = MusicGenerateOptions(key="E minor", length_bars=2, temperature=1.5)
    request = plugin.generation_request(codec, options)
    x = model.generate(1000, seed=1, controls=request.controls, batch_size=1000)
    melodies = request.accept(codec.decode(x, np.random.default_rng(0)))
    pitches = np.concatenate([p.pitches for p in melodies])
    assert len(melodies) > 900 and len(pitches) > 5000
    assert in_key_mask(pitches, "E minor").all()


def test_vae_interpolation_walks_from_one_phrase_to_the_other(grid_piece):
    from domaingen_plugins.music.interpolation import interpolate_melodies

    a = grid_piece([(60 + 2 * (i % 4), i, i + 1) for i in range(8)], name="a")  # C D E F# ... quarters
    b = grid_piece([(72 - (i % 8), i / 2, i / 2 + 0.5) for i in range(16)], name="b")  # falling eighths
    codec = plugin.make_codec(MusicDataOptions(pitch_range=[55, 84], segment_bars=2), "table").fit([a, b])
    x = np.repeat(codec.encode([a, b]), 128, axis=0)
    family = registry.get_family("vae")
    model = family.build(codec.spec, family.Options(latent_dim=4, hidden=[64], beta=0.01), seed=0)
    model.train_on(x, epochs=40, batch_size=32, learning_rate=3e-3, callbacks=[], seed=0)

    class Trained:  # the two attributes interpolate_melodies reads from a bundle
        pass

    bundle = Trained()
    bundle.codec, bundle.model = codec, model
    path = interpolate_melodies(bundle, a, b, steps=5)
    assert len(path) == 5
    assert path[0].pitches.tolist() == a.pitches.tolist()
    assert path[-1].pitches.tolist() == b.pitches.tolist()
