"""Build the music plugin's shipped data from sources already on this machine.

    python -m domaingen_plugins.music.build_corpus            # both outputs below
    python -m domaingen_plugins.music.build_corpus --only bach

1. ``data/bach_soprano.json``: the soprano line of every Bach chorale in music21's bundled
   corpus (``music21.corpus.getComposer('bach')``; nothing is downloaded), as quarter-note
   onsets/durations and MIDI pitches, with each chorale's key (music21's key analysis)
   and beats per bar. Source: see ``LICENCE_NOTE``.
2. ``recipes/data/music-audio/*.wav``: two short monophonic tunes rendered with the
   plugin's own synthesiser, for the audio-in recipe and tests.

The output is deterministic: the same music21 version gives the same bytes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BACH_JSON = HERE / "data" / "bach_soprano.json"
AUDIO_DIR = HERE.parent.parent / "recipes" / "data" / "music-audio"

LICENCE_NOTE = (
    "Soprano lines extracted from the Bach chorale encodings bundled with the music21 "
    "corpus (music21/corpus/bach). The compositions (J. S. Bach, 1685-1750) are in the "
    "public domain. The MusicXML encodings are credited 'PDF (c)2004 Margaret Greentree' "
    "(jsbchorales.net) and are redistributed by music21 with the encoders' permission "
    "(music21/corpus/license.txt, which notes that some corpus encodings may carry "
    "restrictions on commercial use). This file keeps only pitches, onsets, durations, "
    "keys and metres of the soprano part."
)


def _soprano(score):
    for part in score.parts:
        label = f"{part.partName or ''} {part.id or ''}".lower()
        if "soprano" in label:
            return part
    return None


def extract_bach(max_pieces: int | None = None, progress: bool = True) -> dict:
    """Parse the music21 Bach chorales and return the JSON document (see module doc)."""
    from music21 import corpus

    paths = sorted(
        (p for p in corpus.getComposer("bach") if p.suffix in (".mxl", ".xml") and p.name.startswith("bwv")),
        key=lambda p: p.name,
    )
    seen, pieces = set(), []
    for path in paths:
        stem = path.name.rsplit(".", 1)[0]
        if stem in seen:
            continue
        seen.add(stem)
        piece = chorale_soprano(path)
        if piece is not None:
            pieces.append(piece)
            if progress:
                print(f"\r{len(pieces)} chorales", end="", file=sys.stderr, flush=True)
        if max_pieces and len(pieces) >= max_pieces:
            break
    if progress:
        print(file=sys.stderr)
    import music21

    return {
        "format": "domaingen-music-melodies/1",
        "source": f"music21 {music21.__version__} corpus: bach chorales, soprano part",
        "licence": LICENCE_NOTE,
        "time_unit": "quarter notes",
        "default_tempo_qpm": 100,
        "pieces": pieces,
    }


def chorale_soprano(path) -> dict | None:
    """One chorale's soprano line as ``{name, key, beats_per_bar, p, s, d}`` (or None)."""
    from music21 import corpus

    score = corpus.parse(path)
    part = _soprano(score)
    if part is None:
        return None
    measures = part.getElementsByClass("Measure")
    shift = float(measures[0].paddingLeft) if len(measures) else 0.0  # align an anacrusis
    signatures = list(part.recurse().getElementsByClass("TimeSignature"))
    beats = 4
    if signatures and signatures[0].denominator == 4:
        beats = int(signatures[0].numerator)
    pitches, starts, durations = [], [], []
    for note in part.stripTies().flatten().notes:
        if note.duration.quarterLength <= 0:
            continue
        midi = max(p.midi for p in note.pitches)  # a chord in the soprano: keep the top
        pitches.append(int(midi))
        starts.append(round(float(note.offset) + shift, 4))
        durations.append(round(float(note.duration.quarterLength), 4))
    if len(pitches) < 8:
        return None
    try:
        key = score.analyze("key")
        key_name = f"{key.tonic.name.replace('-', 'b')} {key.mode}"
    except Exception:
        key_name = ""
    name = path.name.rsplit(".", 1)[0]
    return {"name": name, "key": key_name, "beats_per_bar": beats, "p": pitches, "s": starts, "d": durations}


def write_bach(target: Path = BACH_JSON) -> Path:
    doc = extract_bach()
    target.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(doc, separators=(",", ":"), sort_keys=False)
    target.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {target} ({len(doc['pieces'])} chorales, {len(text) / 1024:.0f} KiB)", file=sys.stderr)
    return target


DEMO_TUNES = {
    # name: (tempo qpm, [(pitch, quarter-note onset, quarter-note duration), ...])
    "tune-c-major": (
        120,
        [(60, 0, 1), (62, 1, 1), (64, 2, 1), (65, 3, 1), (67, 4, 2), (64, 6, 1), (60, 7, 1),
         (65, 8, 1), (64, 9, 1), (62, 10, 1), (59, 11, 1), (60, 12, 3)],
    ),
    "tune-a-minor": (
        100,
        [(69, 0, 1), (72, 1, 1), (71, 2, 0.5), (69, 2.5, 0.5), (68, 3, 1), (69, 4, 2), (76, 6, 1),
         (74, 7, 1), (72, 8, 1), (71, 9, 1), (69, 10, 2)],
    ),
}


def write_demo_audio(target_dir: Path = AUDIO_DIR, sample_rate: int = 8000) -> list[Path]:
    """Render the ``DEMO_TUNES`` to 16-bit mono WAVs (detached notes: 90% of each value)."""
    import soundfile as sf

    from .piece import Piece
    from .synth import render

    target_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for name, (tempo, rows) in DEMO_TUNES.items():
        beat = 60.0 / tempo
        notes = [(p, s * beat, (s + 0.9 * d) * beat, 96) for p, s, d in rows]
        audio = render(Piece(notes, tempo=tempo, name=name), sample_rate)
        path = target_dir / f"{name}.wav"
        sf.write(str(path), audio, sample_rate, subtype="PCM_16")
        out.append(path)
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)", file=sys.stderr)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("bach", "audio"), default=None)
    args = parser.parse_args(argv)
    if args.only in (None, "bach"):
        write_bach()
    if args.only in (None, "audio"):
        write_demo_audio()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
