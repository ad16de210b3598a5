"""Evaluate a trained run: sample from its generator, score the samples and real held-out windows,
and cache the result in the run folder (`evaluations.json`) until the samples would change.

The samples are fixed by the checkpoint, the number, the temperature, the seed and the device, so
those (with the corpus, the reference split and the metric groups) key the cache: asking again
costs nothing, and a run trained further is evaluated afresh. The real set (the calibration) is
`count` windows of another held-out split, scored against the same references: valid when the
references are test, test otherwise. A whole-tune run (`[data] unit = "tune"`) samples whole
tunes; its form metrics are calibrated by the real tunes of that split, its C2ST by that split's
tunes against the reference split's, and its window metrics by the same real windows as a window
run's (see `units.py`).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from seqgan_music.atomic import write_text_atomic
from seqgan_music.corpora.oracle import corpus_oracle
from seqgan_music.corpora.split import SPLITS
from seqgan_music.errors import DamagedFileError, SeqganError
from seqgan_music.evaluation.scores import (
    References,
    ScoreSet,
    chosen_groups,
    score_c2st,
    score_form,
    score_windows,
)
from seqgan_music.models.sampling import check_sampling
from seqgan_music.models.vae import CodeConditionedGenerator
from seqgan_music.project_files import damage_as_error, expect_fields, read_json
from seqgan_music.run_evaluation.units import (
    chosen_rows,
    ended,
    played_melodies,
    real_sequences,
    window_per_tune,
    written_melodies,
)
from seqgan_music.training.generation import TrainedRun, load_trained_run
from seqgan_music.training.mle import sequence_nlls
from seqgan_music.training.sequences import sample_length, training_sequences

CACHE_FILE = "evaluations.json"
EVALUATION_VERSION = 4  # bump when a metric or a model changes (4: LeakGAN's unit-length w_t): old entries are ignored
_SEED_OFFSET = 7_919  # evaluation samples never coincide with the training's own sample draws


@dataclass(frozen=True)
class EvaluationSettings:
    """What fixes an evaluation: the reference split, the samples and the metric groups."""

    references: str = "test"
    samples: int = 1000
    temperature: float = 1.0
    seed: int = 0
    metrics: tuple[str, ...] = ()  # empty: every group that applies to the corpus

    def check(self) -> None:
        if self.references not in SPLITS:
            raise SeqganError(f"--references must be one of {', '.join(SPLITS)}, got {self.references!r}")
        if self.samples < 2:
            raise SeqganError(f"--samples must be at least 2 (self-BLEU and the tests need two), got {self.samples}")
        if self.seed < 0:
            raise SeqganError(f"--seed must be 0 or more (numpy's generators refuse a negative seed), got {self.seed}")
        try:
            check_sampling(self.temperature, None)
        except ValueError as error:
            raise SeqganError(f"--temperature: {error}") from None


@dataclass
class RunEvaluation:
    """One run's scores, the real set's scores (calibration) and NLL_test, with what produced them."""

    run: str
    corpus: str
    status: str
    settings: dict
    groups: tuple[str, ...]
    generated: ScoreSet
    real: ScoreSet
    real_split: str
    unit: str = "window"  # what the run samples: windows, or whole tunes (its form and C2ST read those)
    nll_test: float | None = None  # per token over the test split, under the same temperature
    nll_test_per_window: list[float] = field(default_factory=list)
    # What NLL_test is where the model's likelihood is intractable (VAE, ARAE: an upper bound); None: exact
    nll_test_bound: str | None = None
    seconds: float = 0.0
    cached: bool = False
    cache_error: str = ""  # why the result could not be cached (a full disk): it is shown all the same

    def to_dict(self) -> dict:
        data = asdict(self)
        data.update(generated=self.generated.to_dict(), real=self.real.to_dict(), groups=list(self.groups),
                    nll_test_per_window=[round(x, 6) for x in self.nll_test_per_window])
        data.pop("cached")
        data.pop("cache_error")
        return data

    @staticmethod
    def from_dict(data: dict) -> RunEvaluation:
        return RunEvaluation(
            run=data["run"], corpus=data["corpus"], status=data.get("status", "?"), settings=data["settings"],
            groups=tuple(data["groups"]), generated=ScoreSet.from_dict(data["generated"]),
            real=ScoreSet.from_dict(data["real"]), real_split=data["real_split"], unit=data.get("unit", "window"),
            nll_test=data.get("nll_test"),
            nll_test_per_window=list(data.get("nll_test_per_window", [])), nll_test_bound=data.get("nll_test_bound"),
            seconds=data.get("seconds", 0.0))

    def per_window(self, metric: str) -> np.ndarray:
        """Per-window scores of the generated set (NLL_test: per held-out window)."""
        values = self.nll_test_per_window if metric == "nll_test" else self.generated.per_window.get(metric, [])
        return np.asarray(values, dtype=np.float64)

    def value(self, metric: str) -> float:
        """The headline value: the mean per window, the set figure, or NLL_test per token."""
        if metric == "nll_test":
            return float("nan") if self.nll_test is None else self.nll_test
        if metric in self.generated.figures:
            return self.generated.figures[metric]
        return self.generated.mean(metric)

    def real_value(self, metric: str) -> float:
        """The same figure for the real set (NaN for NLL_test, which belongs to the generator)."""
        if metric in self.real.figures:
            return self.real.figures[metric]
        return self.real.mean(metric) if metric != "nll_test" else float("nan")


def evaluate_run(home: Path, run: str, settings: EvaluationSettings, device: torch.device = torch.device("cpu"),
                 use_cache: bool = True) -> RunEvaluation:
    """Evaluate `run` (cached in its folder); the same settings and checkpoint give the same numbers."""
    settings.check()
    trained = load_trained_run(home, run, device)
    groups = chosen_groups(trained.corpus, settings.metrics)
    key = _cache_key(trained, settings, groups, device)
    cache = _read_cache(trained.folder)
    if use_cache and key in cache and _is_complete(cache[key]):
        evaluation = RunEvaluation.from_dict(cache[key])
        evaluation.cached = True
        evaluation.nll_test_bound = _nll_bound(trained, evaluation)  # entries cached before it was recorded
        return evaluation
    evaluation = _evaluate(trained, settings, groups, device)
    evaluation.nll_test_bound = _nll_bound(trained, evaluation)
    cache[key] = evaluation.to_dict()
    try:
        write_text_atomic(trained.folder / CACHE_FILE, json.dumps({"version": EVALUATION_VERSION, "entries": cache}))
    except OSError as error:  # the numbers are computed: a cache that cannot be written must not lose them
        evaluation.cache_error = f"{error.strerror or error} ({error.filename or trained.folder / CACHE_FILE})"
    return evaluation


def _nll_bound(trained: TrainedRun, evaluation: RunEvaluation) -> str | None:
    """What the run's NLL_test is when its likelihood is intractable (VAE, ARAE); None: exact, or none."""
    generator = trained.generator
    return generator.nll_bound if isinstance(generator, CodeConditionedGenerator) and evaluation.nll_test is not None \
        else None


def real_split_for(references: str) -> str:
    """The held-out split whose real windows calibrate scores against `references`."""
    return "valid" if references == "test" else "test"


def _evaluate(trained: TrainedRun, settings: EvaluationSettings, groups: Sequence[str],
              device: torch.device) -> RunEvaluation:
    started = time.perf_counter()
    corpus, unit = trained.corpus, trained.config.data.unit
    noise = torch.Generator(device=device).manual_seed(settings.seed + _SEED_OFFSET)
    samples = trained.generator.sample(settings.samples, sample_length(corpus, unit), temperature=settings.temperature,
                                       generator=noise).cpu().numpy()
    references = References(corpus, settings.references, groups)
    oracle = corpus_oracle(corpus) if "nll-oracle" in groups else None
    real_split = real_split_for(settings.references)
    real_windows = chosen_rows(corpus.splits[real_split], settings.samples, settings.seed)
    generated = ended(samples, corpus.vocabulary.end)
    melodies = played_melodies(corpus, generated, unit) if "form" in groups or unit == "tune" else []
    windows = window_per_tune(corpus, melodies, settings.seed) if unit == "tune" else samples
    evaluation = RunEvaluation(
        run=trained.name, corpus=corpus.name, status=trained.info.get("status", "?"),
        settings={**asdict(settings), "metrics": list(groups), "device": device.type},
        groups=tuple(groups), generated=score_windows(windows, references, oracle),
        real=score_windows(real_windows, references, oracle) if len(real_windows) >= 2 else ScoreSet(),
        real_split=real_split, unit=unit)
    real = real_windows if unit == "window" else chosen_rows(real_sequences(corpus, real_split, unit),
                                                             settings.samples, settings.seed)
    if "form" in groups:
        evaluation.generated.add(score_form(melodies, written_melodies(corpus, generated, unit)))
        evaluation.real.add(score_form(played_melodies(corpus, real, unit), written_melodies(corpus, real, unit)))
    if "c2st" in groups:
        held_out = real_sequences(corpus, settings.references, unit)
        evaluation.generated.add(score_c2st(held_out, generated, corpus, settings.seed, device))
        evaluation.real.add(score_c2st(held_out, real, corpus, settings.seed, device))
    test = training_sequences(corpus, unit, device).test if "nll-test" in groups else None
    if test is not None and len(test):  # nothing held out: NLL_test stays missing, never 0
        totals, counts = sequence_nlls(trained.generator, test, settings.temperature)
        evaluation.nll_test = float(totals.sum() / counts.sum().clamp(min=1))
        evaluation.nll_test_per_window = (totals / counts.clamp(min=1)).tolist()
    evaluation.seconds = round(time.perf_counter() - started, 3)
    return evaluation


def _cache_key(trained: TrainedRun, settings: EvaluationSettings, groups: Sequence[str], device: torch.device) -> str:
    fields = {"version": EVALUATION_VERSION, "checkpoint": trained.checkpoint_sha256,
              "corpus": trained.corpus.manifest["content_hash"], "references": settings.references,
              "samples": settings.samples, "temperature": settings.temperature, "seed": settings.seed,
              "groups": sorted(groups), "device": device.type, "unit": trained.config.data.unit}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def _is_complete(entry: dict) -> bool:
    """Music entries cached before the histograms were kept lack them: those are evaluated afresh."""
    return "music" not in entry.get("groups", []) or bool(entry.get("generated", {}).get("histograms"))


def _read_cache(folder: Path) -> dict:
    """The cached evaluations that read back; a missing, damaged or older-version cache, or entry,
    counts as absent: it is evaluated afresh and the cache rewritten."""
    path = folder / CACHE_FILE
    try:
        with damage_as_error(path, "it is rebuilt"):
            data = expect_fields(read_json(path), {"version": int, "entries": dict})
    except DamagedFileError:
        return {}
    if data["version"] != EVALUATION_VERSION:
        return {}
    return {key: entry for key, entry in data["entries"].items() if _readable(entry)}


def _readable(entry: object) -> bool:
    """Whether a cache entry reads back as an evaluation."""
    try:
        RunEvaluation.from_dict(entry)  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError, AttributeError):
        return False
    return True


def cached_evaluations(folder: Path) -> list[dict]:
    """Each cached evaluation of a run as headline figures (samples and real set, no per-window lists):
    what a packed model carries so its quality is known wherever it goes."""
    summaries = []
    for data in _read_cache(folder).values():
        evaluation = RunEvaluation.from_dict(data)
        metrics = sorted({*evaluation.generated.figures, *evaluation.generated.per_window}
                         | ({"nll_test"} if evaluation.nll_test is not None else set()))
        summaries.append({
            "settings": evaluation.settings, "real_split": evaluation.real_split, "unit": evaluation.unit,
            "generated": {m: _finite(evaluation.value(m)) for m in metrics},
            "real": {m: _finite(evaluation.real_value(m)) for m in metrics},
            **({"nll_test_bound": evaluation.nll_test_bound} if evaluation.nll_test_bound else {}),
        })
    return summaries


def _finite(value: float) -> float | None:
    return round(float(value), 6) if np.isfinite(value) else None
