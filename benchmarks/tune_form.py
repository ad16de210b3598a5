"""Whole tunes composed against the real ones: the form metrics, the ABC read back, the rhythm of each type.

Composes `--n` tunes with a model (default: the shipped default model) and default settings, exactly
as `seqgan-music compose --n N` does, and measures them with the form metrics `evaluate` uses
(seqgan_music.evaluation.form), played out (and the notated figures as written), beside the same
metrics of the corpus's held-out (test) tunes and of its training tunes; writes every tune as ABC and reads it back with music21, checking the measures and repeat
signs; then, per tune type with enough real tunes, composes `--per-type` tunes with `--type T` and
compares their note-length distribution with the real tunes of that type (overlap: sum of min).

    python benchmarks/tune_form.py --corpus folk --home /path/with/corpora --n 100 --json form.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from music21 import bar as m21bar
from music21 import converter

from seqgan_music.composing.compose import compose_tunes, requested_settings
from seqgan_music.composing.model import load_model
from seqgan_music.corpora.corpus import load_corpus
from seqgan_music.corpora.melody import Melody, played_out
from seqgan_music.corpora.tunes import parse_tune_symbols
from seqgan_music.errors import SeqganError
from seqgan_music.evaluation.form import FormStats, form_stats
from seqgan_music.evaluation.music_stats import histogram_distance, note_length_shares
from seqgan_music.export.abc import write_abc

ROWS = (("bar-repeat rate (as played)", "bar_repeat"), ("bar-repeat rate (as notated)", "notated_bar_repeat"),
        ("phrase-repeat rate", "phrase_repeat"), ("ends on the tonic", "ends_on_tonic"),
        ("tune length, bars (mean)", "tune_bars"), ("notated length, bars (mean)", "notated_bars"),
        ("part length, bars (mean)", "part_bars"))
MIN_TYPE_TUNES = 30  # real tunes a type needs for its note-length distribution to be compared


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a run name or packed model folder (default: the default model)")
    parser.add_argument("--corpus", default="folk", help="the real corpus the model learned (its test tunes)")
    parser.add_argument("--home", type=Path, default=Path.cwd(), help="project folder holding corpora/")
    parser.add_argument("--n", type=int, default=100, help="tunes composed with default settings")
    parser.add_argument("--per-type", type=int, default=30, help="tunes composed per type (0: skip)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args()
    try:
        model = load_model(args.home, args.model)
        corpus = load_corpus(args.home, args.corpus)
    except SeqganError as error:
        sys.exit(f"error: {error}")
    real, train = (_tune_stats([parse_tune_symbols(corpus.symbols(ids)) for ids in corpus.tune_sequences[split]])
                   for split in ("test", "train"))

    started = time.perf_counter()
    composed = compose_tunes(model, requested_settings(args.n, seed=args.seed))
    seconds = time.perf_counter() - started
    melodies = [tune.melody for tune in composed]
    generated = form_stats([played_out(melody) for melody in melodies], melodies)  # composed as notated
    print(f"{args.n} tunes composed in {seconds:.1f} s by model {model.name}; real: {real.tunes} test tunes of "
          f"corpus {corpus.name}")
    _print_table({"composed": generated, "real": real, "train": train})
    abc = _abc_read_back(composed)
    print(f"\nABC read back by music21: {abc['measures_as_expected']} of {abc['tunes']} with the expected measures, "
          f"{abc['repeats_as_expected']} with every repeat sign")
    every_tune = [parse_tune_symbols(corpus.symbols(ids)) for split in ("train", "valid", "test")
                  for ids in corpus.tune_sequences.get(split, [])]
    types = _type_overlaps(model, every_tune, args.per_type, args.seed) if args.per_type else {}
    for kind, figures in types.items():
        print(f"  {kind:12} note-length overlap {figures['overlap']:.3f} ({figures['composed']} composed, "
              f"{figures['real']} real)")
    if args.json:
        args.json.write_text(json.dumps({"composed": generated.to_dict(), "real": real.to_dict(),
                                         "train": train.to_dict(), "seconds": seconds,
                                         "abc": abc, "types": types}, indent=1))
        print(f"wrote {args.json}")


def _tune_stats(tunes: list) -> FormStats:
    """The form metrics of corpus tunes, played out, the notated ones read as the source wrote them."""
    return form_stats([tune.melody(played=True) for tune in tunes], [tune.melody(played=False) for tune in tunes])


def _print_table(columns: dict[str, FormStats]) -> None:
    print(f"\n{'':30}" + "".join(f"{name:>12}" for name in columns))
    for label, attribute in ROWS:
        print(f"{label:30}" + "".join(f"{getattr(stats, attribute):>12.2f}" for stats in columns.values()))


def _abc_read_back(composed: list) -> dict:
    """Each tune written as ABC and parsed by music21: measures and repeat barlines as notated."""
    measures_ok = repeats_ok = 0
    with tempfile.TemporaryDirectory() as folder:
        for index, tune in enumerate(composed):
            path = Path(folder) / f"{index}.abc"
            write_abc(tune.melody, path)
            part = converter.parse(path, format="abc").parts[0]
            marks = tune.melody.repeat_marks or []
            measures_ok += len(part.getElementsByClass("Measure")) == len(tune.melody.bars)
            expected = sum(start + end for start, end, _ in marks)
            repeats = sum(isinstance(line, m21bar.Repeat) for line in part.recurse().getElementsByClass(m21bar.Barline))
            repeats_ok += repeats == expected
    return {"tunes": len(composed), "measures_as_expected": measures_ok, "repeats_as_expected": repeats_ok}


def _type_overlaps(model, real_tunes: list, count: int, seed: int) -> dict:
    """Per type with MIN_TYPE_TUNES tunes in the corpus: the note-length overlap (notated tunes) of
    `count` tunes composed with --type against the corpus's tunes of that type."""
    by_type: dict[str, list[Melody]] = {}
    for tune in real_tunes:
        by_type.setdefault(tune.header.type, []).append(tune.melody(played=False))
    known = {key.split(" ")[2] for key in model.headers}
    figures = {}
    for kind, melodies in sorted(by_type.items(), key=lambda item: -len(item[1])):
        if kind == "unknown" or kind not in known or len(melodies) < MIN_TYPE_TUNES:
            continue
        composed = compose_tunes(model, requested_settings(count, seed=seed, tune_type=kind))
        _, overlap = histogram_distance(note_length_shares(melodies), note_length_shares([t.melody for t in composed]))
        figures[kind] = {"overlap": round(overlap, 4), "composed": count, "real": len(melodies),
                         "real_shares": np.round(note_length_shares(melodies), 4).tolist()}
    return figures


if __name__ == "__main__":
    main()
