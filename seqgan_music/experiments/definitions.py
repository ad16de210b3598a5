"""The experiments: which runs (method and settings) on which corpus, evaluated how, and the
published figures they are set against."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from seqgan_music.config import METHODS, TUNE_PRESETS, Config, apply_overrides, preset
from seqgan_music.corpora.encodings import MUSIC_ENCODINGS
from seqgan_music.corpora.grammar import LENGTHS as GRAMMAR_LENGTHS
from seqgan_music.errors import SeqganError
from seqgan_music.paths import check_name
from seqgan_music.run_evaluation.runs import EvaluationSettings
from seqgan_music.training.methods import method_class

ORACLE_PRESETS = ("cpu-oracle", "paper-oracle")
# The rows of the oracle table: "random" (the untrained generator) or a training method.
RANDOM = "random"
ORACLE_METHODS = (RANDOM, "mle", "ss", "pg-bleu", "seqgan")  # the SeqGAN paper's Table 1
# NLL_oracle of 10,000 samples at length 20. SeqGAN paper, Table 1 (p < 1e-6 for SeqGAN against each
# baseline); RankGAN (Lin et al. 2017, Table 2) and LeakGAN (Guo et al. 2018, Table 2) on the same oracle.
PAPER_ORACLE = {"Random": {"nll_oracle": 10.310}, "MLE": {"nll_oracle": 9.038}, "SS": {"nll_oracle": 8.985},
                "PG-BLEU": {"nll_oracle": 8.946}, "SeqGAN": {"nll_oracle": 8.736},
                "RankGAN": {"nll_oracle": 8.247}, "LeakGAN": {"nll_oracle": 7.038}}
# SeqGAN paper, the Nottingham table (BLEU-4 and MSE; its MSE has no published formula).
PAPER_NOTTINGHAM = {"MLE": {"bleu4": 0.9210, "mse": 22.38}, "SeqGAN": {"bleu4": 0.9406, "mse": 20.62}}
# ReGAN paper (Balagopalan et al. 2018), length 15: goodness as valid three-token windows out of 13
# (about 12.4 for REINFORCE and REBAR, 11.9 for RELAX); ours is the share of valid windows, so / 13.
# Its REBAR and RELAX use one control over the whole sequence: our rows REBAR-seq and RELAX-seq.
WINDOWS_OF_15 = 13
PAPER_GRAMMAR_15 = {"REINFORCE": {"goodness": round(12.4 / WINDOWS_OF_15, 4)},
                    "REBAR-seq": {"goodness": round(12.4 / WINDOWS_OF_15, 4)},
                    "RELAX-seq": {"goodness": round(11.9 / WINDOWS_OF_15, 4)}}
# ReGAN's REBAR and RELAX: one control over the whole relaxed sequence, starting at eta = 1.
REGAN_CONTROL = ("relaxation.control=sequence", "relaxation.scale=1")
# What the grammar experiment draws per adversarial round, from each run's metrics.jsonl.
GRAMMAR_CURVES = ("goodness", "log_variance_output", "log_variance_weight")


@dataclass(frozen=True)
class ExperimentRun:
    """One row of the table: a label, the run's name and its full settings."""

    label: str
    run: str
    config: Config


@dataclass(frozen=True)
class Experiment:
    """Runs on one corpus, evaluated with the same settings; `focus` is compared against every other row."""

    name: str
    title: str
    corpus: str
    runs: tuple[ExperimentRun, ...]
    evaluation: EvaluationSettings
    headline: tuple[str, ...]  # the metrics of the main table, in order
    paper: dict[str, dict[str, float]] = field(default_factory=dict)
    focus: str = "SeqGAN"
    curves: tuple[str, ...] = ()  # logged metrics drawn against the adversarial round
    notes: tuple[str, ...] = ()  # how to read the table against the paper


def oracle_experiment(preset_name: str = "cpu-oracle", corpus: str = "oracle", tag: str | None = None,
                      seed: int = 0, overrides: Sequence[str] = (), samples: int = 10_000,
                      methods: Sequence[str] = ORACLE_METHODS) -> Experiment:
    """Table 1 of the SeqGAN paper, one row per method (by default the paper's: Random, the untrained
    generator, MLE, SS, PG-BLEU and SeqGAN) on the oracle, each scored on `samples` samples (the
    paper's 10,000). SeqGAN, when it is a row, is compared against every other row; else the last row."""
    if preset_name not in ORACLE_PRESETS:
        raise SeqganError(f"--preset must be one of {', '.join(ORACLE_PRESETS)}, got {preset_name!r}")
    rows = _method_rows(methods)
    name = _name(f"oracle-{preset_name.removesuffix('-oracle')}", tag)
    base = apply_overrides(preset(preset_name), [*overrides, f"run.seed={seed}"])
    runs = tuple(_method_run(name, method, base) for method in rows)
    evaluation = EvaluationSettings(references="test", samples=samples, seed=seed, metrics=("nll-oracle", "nll-test"))
    labels = [run.label for run in runs]
    paper = {label: PAPER_ORACLE[label] for label in labels if label in PAPER_ORACLE}  # the rows it runs
    return Experiment(name, f"Synthetic data: the SeqGAN oracle ({preset_name} preset)", corpus, runs, evaluation,
                      ("nll_oracle", "nll_test"), paper, focus="SeqGAN" if "SeqGAN" in labels else labels[-1])


def _method_rows(methods: Sequence[str]) -> tuple[str, ...]:
    """The requested rows, checked: known names, at least two, none twice."""
    known = (RANDOM, *METHODS)
    rows = tuple(method.strip() for method in methods if method.strip())
    unknown = [method for method in rows if method not in known]
    if unknown:
        raise SeqganError(f"--methods: unknown method {unknown[0]!r}: choose from {', '.join(known)}")
    if len(set(rows)) != len(rows):
        raise SeqganError("--methods: each method may be named once")
    if len(rows) < 2:
        raise SeqganError("--methods: name at least two methods to compare, e.g. --methods mle,seqgan")
    return rows


def _method_run(experiment: str, method: str, base: Config) -> ExperimentRun:
    """The row of `method` ("random": MLE with no epochs, the untrained generator)."""
    if method == RANDOM:
        return ExperimentRun("Random", f"{experiment}-random", apply_overrides(base, ["run.method=mle", "mle.epochs=0"]))
    return ExperimentRun(method_class(method).label, f"{experiment}-{method}",
                         apply_overrides(base, [f"run.method={method}"]))


def nottingham_experiment(encoding: str = "paper", preset_name: str = "folk", corpus: str | None = None,
                          tag: str | None = None, seed: int = 0, overrides: Sequence[str] = ()) -> Experiment:
    """The SeqGAN paper's music table: MLE against SeqGAN on Nottingham, BLEU-4 and MSE on held-out tunes."""
    if encoding not in MUSIC_ENCODINGS:
        raise SeqganError(f"--encoding must be one of {', '.join(MUSIC_ENCODINGS)}, got {encoding!r}")
    name = _name(f"nottingham-{encoding}", tag)
    base = apply_overrides(preset(preset_name), [*overrides, f"run.seed={seed}"])
    runs = (
        ExperimentRun("MLE", f"{name}-mle", apply_overrides(base, ["run.method=mle"])),
        ExperimentRun("SeqGAN", f"{name}-seqgan", apply_overrides(base, ["run.method=seqgan"])),
    )
    evaluation = EvaluationSettings(references="test", samples=1000, seed=seed)
    return Experiment(name, f"Nottingham folk tunes ({encoding} encoding, {preset_name} preset)",
                      corpus or f"nottingham-{encoding}", runs, evaluation, ("bleu4", "mse", "self_bleu4", "nll_test"),
                      PAPER_NOTTINGHAM if encoding == "paper" else {})


def grammar_experiment(length: int, corpus: str | None = None, tag: str | None = None, seed: int = 0,
                       overrides: Sequence[str] = (), samples: int = 10_000) -> Experiment:
    """The ReGAN paper's comparison: REINFORCE (without and with a moving baseline), REBAR and RELAX
    (with our per-token control and with ReGAN's sequence control) and SeqGAN on the toy grammar by
    goodness, with the gradient log-variance curves; RELAX is the focus."""
    if length not in GRAMMAR_LENGTHS:
        raise SeqganError(f"--length must be 3 or 15 (the ReGAN paper's settings), got {length}")
    name = _name(f"grammar{length}", tag)
    base = apply_overrides(preset("grammar"), [*overrides, f"run.seed={seed}"])
    plain = ["adversarial.baseline=false"]
    runs = (
        ExperimentRun("REINFORCE", f"{name}-reinforce", apply_overrides(base, [*plain, "run.method=reinforce"])),
        ExperimentRun("REINFORCE+baseline", f"{name}-reinforce-baseline",
                      apply_overrides(base, ["adversarial.baseline=true", "run.method=reinforce"])),
        ExperimentRun("REBAR", f"{name}-rebar", apply_overrides(base, [*plain, "run.method=rebar"])),
        ExperimentRun("RELAX", f"{name}-relax", apply_overrides(base, [*plain, "run.method=relax"])),
        ExperimentRun("REBAR-seq", f"{name}-rebar-seq",
                      apply_overrides(base, [*plain, "run.method=rebar", *REGAN_CONTROL])),
        ExperimentRun("RELAX-seq", f"{name}-relax-seq",
                      apply_overrides(base, [*plain, "run.method=relax", *REGAN_CONTROL])),
        ExperimentRun("SeqGAN", f"{name}-seqgan", apply_overrides(base, [*plain, "run.method=seqgan"])),
    )
    evaluation = EvaluationSettings(references="test", samples=samples, seed=seed, metrics=("goodness", "nll-test"))
    windows = length - 2
    count = (f"a sequence of {length} tokens has {windows}, so multiply by {windows} for the ReGAN paper's count "
             "of valid windows" if windows > 1 else "a sequence of 3 tokens has one, so it is the share of valid sequences")
    notes = (f"Goodness is the share of valid three-token windows (`x op x` or `op x op`); {count}.",
             "ln Var is the natural log of the variance, over independent batches, of the batch's gradient "
             "estimate: averaged over the generator's output layer (output) and for its first weight (weight).",
             "REBAR and RELAX use a control per token, given the tokens before it (unbiased), whose weight "
             "eta starts at 0; REBAR-seq and RELAX-seq use ReGAN's one control over the whole relaxed sequence "
             "with eta starting at 1, which is biased for an autoregressive generator. The paper's figures "
             "are set against REINFORCE and the -seq rows.")
    return Experiment(name, f"The toy grammar, length {length}: REINFORCE, REBAR, RELAX and SeqGAN (the ReGAN comparison)", corpus or f"grammar{length}",
                      runs, evaluation, ("goodness", "nll_test"), PAPER_GRAMMAR_15 if length == 15 else {}, focus="RELAX",
                      curves=GRAMMAR_CURVES, notes=notes)


# The whole-tune experiment's own metrics: C2ST, the form metrics, NLL_test and self-BLEU (on whole tunes).
TUNE_METRIC_GROUPS = ("c2st", "form", "nll-test", "self-bleu")
# What defines the whole-tune experiment: both runs on whole tunes, SeqGAN rewarded per bar.
TUNE_RUN_SETTINGS = ("data.unit=tune", "rollout.every=bar")
# Settings of both runs that --set may change: one torch thread (other jobs share the 2-core machine; the
# small lookback network's many short operations gain nothing from a second thread there).
TUNE_DEFAULTS = ("run.threads=1",)


def tunes_experiment(preset_name: str = "folk-tunes", corpus: str = "nottingham", tag: str | None = None,
                     seed: int = 0, overrides: Sequence[str] = (), samples: int = 200) -> Experiment:
    """MLE against SeqGAN with rewards per bar on whole tunes (issue 16): the same preset, lookback
    generator and seed, so the SeqGAN run's MLE phase is the MLE run (the report checks it), compared
    by C2ST, the form metrics, NLL_test and self-BLEU-4 of whole tunes against the held-out tunes.

    The schedule is the preset's own, since it fits the ~25 minutes meant for the experiment: on
    Nottingham (687 training tunes), one thread, folk-tunes cost 18 s of CPU per MLE epoch (hidden
    256), 33 s per D pre-training round and 48 s per adversarial round, 17 minutes of CPU for both
    runs' training and about 19 with the evaluation (42 minutes of wall time on the 2-core machine
    with 6 to 10 jobs running). One thread: other jobs share the machine."""
    if preset_name not in TUNE_PRESETS:
        raise SeqganError(f"--preset must be a whole-tune preset ({', '.join(TUNE_PRESETS)}), got {preset_name!r}")
    fixed = {setting.partition("=")[0] for setting in TUNE_RUN_SETTINGS}
    for assignment in overrides:
        if assignment.partition("=")[0].strip() in fixed:
            raise SeqganError(f"--set {assignment}: the tunes experiment always trains on whole tunes with "
                              "rewards per bar (data.unit=tune, rollout.every=bar)")
    name = _name("tunes" if preset_name == "folk-tunes" else f"tunes-{preset_name}", tag)
    base = apply_overrides(preset(preset_name), [*TUNE_DEFAULTS, *overrides, *TUNE_RUN_SETTINGS, f"run.seed={seed}"])
    runs = (
        ExperimentRun("MLE", f"{name}-mle", apply_overrides(base, ["run.method=mle"])),
        ExperimentRun("SeqGAN", f"{name}-seqgan", apply_overrides(base, ["run.method=seqgan"])),
    )
    evaluation = EvaluationSettings(references="test", samples=samples, seed=seed, metrics=TUNE_METRIC_GROUPS)
    evaluation.check()
    return Experiment(name, f"Whole tunes: MLE against SeqGAN with rewards per bar ({preset_name} preset)", corpus,
                      runs, evaluation, ("c2st", "bar_repeat", "notated_bar_repeat", "phrase_repeat",
                                         "ends_on_tonic", "nll_test", "self_bleu4"),
                      curves=("d_acc_real", "d_acc_fake", "mean_reward", "nll_test"))


def _name(base: str, tag: str | None) -> str:
    return check_name(f"{base}-{tag}" if tag else base, "experiment")
