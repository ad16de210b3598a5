"""Corpus-layer benchmarks (`make bench`): wall time of real builds on this machine.

Prints one line per benchmark with the machine it ran on; numbers are only comparable on the
same machine. Benchmarks that need ../shared/data skip with a reason when it is absent.
Add `--folk` to include the full parse of the default folk collections (minutes, cold cache).
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from seqgan_music.corpora.encodings import music_encoding
from seqgan_music.corpora.music import build_music_corpus
from seqgan_music.corpora.split import SplitPlan

SHARED = Path(__file__).resolve().parents[2] / "shared"


def timed(label: str, work) -> None:
    started = time.perf_counter()
    summary = work()
    print(f"{label:<44} {time.perf_counter() - started:8.1f} s   {summary}", flush=True)


def nottingham(encoding: str):
    from seqgan_music.corpora.midi import read_midi_folder

    def work() -> str:
        corpus = build_music_corpus("bench", read_midi_folder(SHARED / "data/nottingham/MIDI"),
                                    music_encoding(encoding), SplitPlan(), {"kind": "midi"})
        counts = corpus.manifest["counts"]
        return f"{counts['tunes']} tunes, {sum(counts['windows'].values())} windows, {counts['steps']} steps"

    return work


def oracle() -> str:
    from seqgan_music.corpora.oracle import build_oracle_corpus

    corpus = build_oracle_corpus("bench", SHARED / "oracle/seqgan_oracle.npz")
    return f"{sum(len(a) for a in corpus.splits.values())} sequences"


def folk() -> str:
    from seqgan_music.corpora.folk import DEFAULT_COLLECTIONS, folk_files, read_folk_files

    with tempfile.TemporaryDirectory() as cache:
        corpus = build_music_corpus("bench", read_folk_files(folk_files(DEFAULT_COLLECTIONS), cache_dir=Path(cache)),
                                    music_encoding("grid16"), SplitPlan(), {"kind": "folk"})
    return f"{corpus.manifest['counts']['tunes']} tunes"


def main() -> None:
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    if (SHARED / "data/nottingham/MIDI").is_dir():
        timed("nottingham -> grid16 (865 MIDI files)", nottingham("grid16"))
        timed("nottingham -> paper (865 MIDI files)", nottingham("paper"))
    else:
        print(f"skipped nottingham: {SHARED / 'data/nottingham/MIDI'} is absent")
    if (SHARED / "oracle/seqgan_oracle.npz").is_file():
        timed("oracle corpus (10,000 + 10,000 samples)", oracle)
    else:
        print(f"skipped oracle: {SHARED / 'oracle/seqgan_oracle.npz'} is absent")
    if "--folk" in sys.argv:
        timed("folk corpus, cold parse (default collections)", folk)


if __name__ == "__main__":
    main()
