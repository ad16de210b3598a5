"""BLEU benchmark: BLEU-4 of 1,000 generated sequences of length 32 against 5,000 references.

Times seqgan-music's BLEU (references prepared once, then every candidate scored) and nltk's
`sentence_bleu` called per candidate with the whole reference list, as Texygen does, on the same
data in the same run. nltk recounts the 5,000 references for every candidate, so it is timed on
`--nltk-candidates` of them and its per-candidate time is scaled to 1,000; the scores of those
candidates are compared too.

    python benchmarks/bleu_speed.py [--nltk-candidates 20] [--vocabulary 48]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

import numpy as np

from seqgan_music.evaluation.bleu import bleu

CANDIDATES, REFERENCES, LENGTH = 1000, 5000, 32


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nltk-candidates", type=int, default=20, help="candidates nltk scores (default 20)")
    parser.add_argument("--vocabulary", type=int, default=48, help="token ids 0..V-1 (default 48, like grid16)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    # Sequences with local structure (a random walk over the ids), so n-grams repeat as in music.
    steps = rng.integers(-2, 3, size=(CANDIDATES + REFERENCES, LENGTH))
    walks = np.mod(np.cumsum(steps, axis=1) + rng.integers(0, args.vocabulary, size=(CANDIDATES + REFERENCES, 1)),
                   args.vocabulary)
    candidates, references = walks[:CANDIDATES], walks[CANDIDATES:]
    print(f"machine: {platform.node()}, {os.cpu_count()} CPUs; BLEU-4 of {CANDIDATES} candidates of length "
          f"{LENGTH} against {REFERENCES} references, vocabulary {args.vocabulary}")

    started = time.perf_counter()
    ours = bleu(candidates, references, 4)
    ours_seconds = time.perf_counter() - started
    print(f"seqgan-music bleu:  {ours_seconds:8.3f} s for {CANDIDATES} candidates (mean BLEU-4 {ours.mean():.4f})")

    try:
        from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
    except ImportError:
        print("nltk is not installed (pip install nltk): no comparison")
        return
    reference_lists = references.tolist()
    smoothing = SmoothingFunction().method1
    count = min(args.nltk_candidates, CANDIDATES)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = [sentence_bleu(reference_lists, list(c), weights=(0.25,) * 4, smoothing_function=smoothing)
                  for c in candidates[:count].tolist()]
    per_candidate = (time.perf_counter() - started) / count
    print(f"nltk sentence_bleu: {per_candidate * CANDIDATES:8.3f} s for {CANDIDATES} candidates "
          f"(measured on {count}: {per_candidate:.3f} s each)")
    print(f"speed-up: {per_candidate * CANDIDATES / ours_seconds:.0f}x; "
          f"max |difference| on the shared candidates: {np.abs(ours[:count] - theirs).max():.1e}")


if __name__ == "__main__":
    main()
