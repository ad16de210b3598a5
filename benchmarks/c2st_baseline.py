"""C2ST baseline: can a fresh classifier tell composed whole tunes from real held-out Nottingham tunes?

Builds the Nottingham grid16 corpus (whole tunes, as `corpus build` does), then runs the classifier
two-sample test (seqgan_music.evaluation.c2st) on
- the valid split's whole tunes against the test split's: two real samples, the calibration (~0.5);
- with --composed, the test split's tunes against the tunes of a folder of composed MIDI files,
  read back and encoded through the same pipeline (key, transposition to the plain signature,
  grid16, `corpora.tunes.whole_tune`), their tokens mapped into the Nottingham vocabulary (a pitch
  it lacks goes by octaves into its range, then to the nearest pitch it has).
Each pair is compared as whole tune sequences (header, structure, steps, <end>) and as bodies
(the header's meter/mode/type tokens left out: a composed MIDI file names no tune type).
--speed also times the size `evaluate` meets: 500 train tunes against 500 others, tokens shuffled.
Times are wall clock and CPU (on a busy machine the CPU time is the figure to read).

    seqgan-music compose --n 100 --seed 3 --format mid --out /tmp/c2st-composed
    python benchmarks/c2st_baseline.py ../shared/data/nottingham/MIDI --composed /tmp/c2st-composed
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from seqgan_music.corpora.corpus import Corpus
from seqgan_music.corpora.encodings import music_encoding, pitch_token, token_pitch
from seqgan_music.corpora.midi import read_midi_folder
from seqgan_music.corpora.music import build_music_corpus
from seqgan_music.corpora.split import SplitPlan
from seqgan_music.corpora.tunes import PART
from seqgan_music.corpora.vocabulary import Vocabulary
from seqgan_music.errors import SeqganError
from seqgan_music.evaluation.c2st import C2STResult, C2STSettings, c2st
from seqgan_music.training.device import configure_threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("nottingham", type=Path, help="the Nottingham MIDI folder")
    parser.add_argument("--composed", type=Path, help="a folder of composed MIDI files to test against the test split")
    parser.add_argument("--seed", type=int, default=0, help="seed of the balancing, folds and classifiers")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (0: torch's default)")
    parser.add_argument("--speed", action="store_true", help="also time 500 against 500 whole tunes")
    parser.add_argument("--json", type=Path, help="also write every result (with per-sample values) here")
    args = parser.parse_args()
    configure_threads(args.threads)
    try:
        started = time.perf_counter()
        reference = _corpus("nottingham", args.nottingham, SplitPlan())
        print(f"Nottingham corpus built in {time.perf_counter() - started:.1f} s")
        both = ("whole", "body")
        pairs = {"valid vs test": (reference.tune_sequences["valid"], reference.tune_sequences["test"], both)}
        if args.composed:
            composed, mapped = _composed_tunes(args.composed, reference.vocabulary)
            print(f"{args.composed}: {len(composed)} tunes, {mapped} tokens mapped into the Nottingham vocabulary")
            pairs["test vs composed"] = (reference.tune_sequences["test"], composed, both)
        if args.speed:
            train, rng = reference.tune_sequences["train"], np.random.default_rng(args.seed)
            pairs["train 500 vs shuffled 500"] = (train[:500], [rng.permutation(t) for t in train[-500:]], ("whole",))
    except SeqganError as error:
        sys.exit(f"error: {error}")
    results: dict[str, dict] = {}
    print(f"\n{'':36}{'n/set':>6}{'tokens':>8}{'accuracy':>10}{'95% CI':>16}{'p (> 0.5)':>11}  folds{'':21}"
          "wall, CPU")
    for name, (real, generated, views) in pairs.items():
        for view in views:
            first, second = ((tunes if view == "whole" else [_body(t, reference.vocabulary) for t in tunes])
                             for tunes in (real, generated))
            cpu = time.process_time()
            result = c2st(first, second, len(reference.vocabulary), reference.vocabulary.pad, seed=args.seed)
            _print_row(f"{name} ({view})", result, first + second, time.process_time() - cpu)
            results[f"{name} ({view})"] = result.to_dict()
    if args.json:
        args.json.write_text(json.dumps({"settings": asdict(C2STSettings()), "results": results}, indent=1))
        print(f"\nwrote {args.json}")


def _corpus(name: str, folder: Path, plan: SplitPlan) -> Corpus:
    return build_music_corpus(name, read_midi_folder(folder), music_encoding("grid16"), plan, {"kind": "midi"})


def _composed_tunes(folder: Path, vocabulary: Vocabulary) -> tuple[list[np.ndarray], int]:
    """The folder's tunes through the corpus pipeline, all in one split, as ids of `vocabulary`, and
    how many tokens had to be mapped."""
    corpus = _corpus("composed", folder, SplitPlan(fractions=(1.0, 0.0, 0.0)))
    tunes, mapped = [], 0
    for sequence in corpus.tune_sequences["train"]:
        symbols = corpus.symbols(sequence)
        kept = [_in_vocabulary(symbol, vocabulary) for symbol in symbols]
        mapped += sum(new != old for new, old in zip(kept, symbols))
        tunes.append(np.array(vocabulary.ids(kept), dtype=np.int64))
    return tunes, mapped


def _in_vocabulary(symbol: str, vocabulary: Vocabulary) -> str:
    """`symbol`, or for a pitch the vocabulary lacks, the pitch moved by octaves into the vocabulary's
    range and then to its nearest pitch; other unknown tokens are refused."""
    if symbol in vocabulary:
        return symbol
    pitch = token_pitch(symbol)
    if pitch is None:
        raise SeqganError(f"the composed tunes hold {symbol!r}, which the Nottingham vocabulary lacks")
    known = sorted(p for p in map(token_pitch, vocabulary.tokens) if p is not None)
    while pitch > known[-1]:
        pitch -= 12
    while pitch < known[0]:
        pitch += 12
    return pitch_token(min(known, key=lambda p: (abs(p - pitch), p)))


def _body(tune: np.ndarray, vocabulary: Vocabulary) -> np.ndarray:
    """The tune from its first PART: the header's meter, mode and type left out."""
    starts = np.flatnonzero(tune == vocabulary.id(PART))
    return tune[starts[0]:] if len(starts) else tune


def _print_row(name: str, result: C2STResult, sequences: list[np.ndarray], cpu: float) -> None:
    median = int(np.median([len(s) for s in sequences]))
    folds = " ".join(f"{a:.2f}" for a in result.fold_accuracies)
    print(f"{name:36}{result.samples_per_set:>6}{median:>8}{result.accuracy:>10.3f}"
          f"{f'[{result.ci_low:.3f}, {result.ci_high:.3f}]':>16}{result.p_value:>11.2g}  {folds}  "
          f"{result.seconds:.1f} s, {cpu:.1f} s")


if __name__ == "__main__":
    main()
