"""Form baseline: the form metrics (seqgan_music.evaluation.form) of folders of MIDI tunes, side by side.

Reads every .mid/.midi file under each folder (real tunes, or tunes written by `compose --format
mid`), detects each tune's form and prints bar-repeat (played and notated), phrase-repeat,
ends-on-tonic, tune and part lengths and the forms found. `--json` also writes every figure.

    python benchmarks/form_baseline.py ../shared/data/nottingham/MIDI
    seqgan-music compose --n 60 --seed 1 --out /tmp/form-composed --format mid
    python benchmarks/form_baseline.py ../shared/data/nottingham/MIDI /tmp/form-composed
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from seqgan_music.corpora.form import FREE, tune_type_from_name
from seqgan_music.corpora.melody import Melody
from seqgan_music.corpora.midi import read_midi_folder
from seqgan_music.errors import SeqganError
from seqgan_music.evaluation.form import FormStats, form_stats

FORMS_SHOWN = 12
ROWS = (("bar-repeat rate (as played)", "bar_repeat"), ("bar-repeat rate (as notated)", "notated_bar_repeat"),
        ("phrase-repeat rate", "phrase_repeat"), ("ends on the tonic", "ends_on_tonic"),
        ("tune length, bars (mean)", "tune_bars"), ("notated length, bars (mean)", "notated_bars"),
        ("part length, bars (mean)", "part_bars"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="folders of MIDI files, one column each")
    parser.add_argument("--json", type=Path, help="also write every figure (and per-tune values) here")
    args = parser.parse_args()
    columns: dict[str, FormStats] = {}
    types: dict[str, Counter[str]] = {}
    for folder in args.folders:
        try:
            read = list(read_midi_folder(folder))
        except SeqganError as error:
            sys.exit(f"error: {error}")
        melodies = [item for item in read if isinstance(item, Melody)]
        print(f"{folder}: {len(melodies)} tunes, {len(read) - len(melodies)} files skipped")
        columns[folder.name] = form_stats(melodies)
        types[folder.name] = Counter(tune_type_from_name(melody.source) for melody in melodies)
    _print_table(columns)
    for name, stats in columns.items():
        _print_distributions(name, stats, types[name])
    if args.json:
        args.json.write_text(json.dumps({name: stats.to_dict() for name, stats in columns.items()}, indent=1))
        print(f"\nwrote {args.json}")


def _print_table(columns: dict[str, FormStats]) -> None:
    width = max(12, *(len(name) for name in columns))
    print(f"\n{'':30}" + "".join(f"{name:>{width + 2}}" for name in columns))
    print(f"{'tunes':30}" + "".join(f"{stats.tunes:>{width + 2}}" for stats in columns.values()))
    for label, attribute in ROWS:
        print(f"{label:30}" + "".join(f"{getattr(stats, attribute):>{width + 2}.2f}" for stats in columns.values()))


def _print_distributions(name: str, stats: FormStats, types: Counter[str]) -> None:
    print(f"\n{name}")
    shown = list(stats.form_counts.items())[:FORMS_SHOWN]
    other = stats.tunes - sum(count for _, count in shown)
    forms = ", ".join(f"{form} {count}" for form, count in shown) + (f", other {other}" if other else "")
    with_form = stats.tunes - stats.form_counts.get(FREE, 0)
    print(f"  forms: {forms}")
    print(f"  tunes with a form: {with_form} of {stats.tunes} ({with_form / max(stats.tunes, 1):.0%})")
    parts = ", ".join(f"{bars} bars: {count}" for bars, count in sorted(stats.part_length_counts.items()))
    print(f"  distinct parts by length: {parts or 'none'}")
    lengths = sorted(stats.tune_length_counts.items(), key=lambda item: -item[1])[:8]
    print("  commonest tune lengths (bars: tunes): " + ", ".join(f"{bars}: {count}" for bars, count in lengths))
    print("  tune types from the file names: " + ", ".join(f"{kind} {count}" for kind, count in types.most_common()))


if __name__ == "__main__":
    main()
