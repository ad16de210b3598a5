"""Evaluate the `tunes` experiment's runs: the shared evaluate path (`run_evaluation/runs.py`, groups
c2st, form, nll-test and self-bleu), which samples whole tunes from a whole-tune run and scores
them against the held-out tunes, plus the one comparison it leaves out: SeqGAN's C2ST accuracy
against MLE's.

`evaluate` gives no p-value for the C2ST because its accuracy is one figure per set; but it is
the share of right held-out predictions among 2n (n tunes of each set), so two runs' accuracies
are compared as those predictions, right (1) or wrong (0), by the same Welch and permutation
tests as every other metric (a two-proportion test; the folds share training data, so the
predictions are not strictly independent, as in the C2ST's own binomial p).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from seqgan_music.evaluation.significance import Comparison, compare
from seqgan_music.experiments.definitions import Experiment
from seqgan_music.experiments.runner import ExperimentResults, evaluate_experiment
from seqgan_music.run_evaluation.comparison import PairComparison
from seqgan_music.run_evaluation.runs import RunEvaluation
from seqgan_music.training.device import configure_threads

C2ST = "c2st"


def evaluate_tune_experiment(home: Path, experiment: Experiment, device: torch.device = torch.device("cpu"),
                             permutations: int = 10_000) -> ExperimentResults:
    """Every run evaluated on whole tunes (cached in the run folders), the focus run compared with
    the others on every per-tune metric and on the C2ST accuracy; on the runs' torch thread count
    (the C2ST's small classifiers run fastest on one thread of a busy machine)."""
    configure_threads(experiment.runs[0].config.run.threads)
    results = evaluate_experiment(home, experiment, device, permutations)
    focus = results.evaluations[experiment.focus]
    for label, pairs in results.comparisons.items():
        other = results.evaluations[label]
        comparison = c2st_comparison(other, focus, permutations)
        if comparison is not None:
            pairs.append(PairComparison(other.run, focus.run, C2ST, comparison))
    return results


def c2st_comparison(a: RunEvaluation, b: RunEvaluation, permutations: int = 10_000) -> Comparison | None:
    """b's C2ST accuracy against a's, as their held-out predictions right or wrong; None when
    either has no C2ST."""
    outcomes = [c2st_outcomes(evaluation) for evaluation in (a, b)]
    if any(o is None for o in outcomes):
        return None
    return compare(outcomes[0], outcomes[1], permutations)


def c2st_outcomes(evaluation: RunEvaluation) -> np.ndarray | None:
    """The run's 2n held-out C2ST predictions as 1 (right) or 0 (wrong), from its accuracy and n."""
    figures = evaluation.generated.figures
    accuracy, per_set = figures.get(C2ST, math.nan), figures.get("c2st_samples", math.nan)
    if not (math.isfinite(accuracy) and math.isfinite(per_set)):
        return None
    total = 2 * int(per_set)
    right = round(accuracy * total)
    return np.concatenate([np.ones(right), np.zeros(total - right)])
