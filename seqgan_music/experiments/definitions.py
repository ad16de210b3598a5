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
START = "mle"  # the row every other training method of the oracle and text experiments starts from
# NLL_oracle of 10,000 samples at length 20. SeqGAN paper, Table 1 (p < 1e-6 for SeqGAN against each
# baseline); RankGAN (Lin et al. 2017, Table 2) and LeakGAN (Guo et al. 2018, Table 2) on the same oracle.
PAPER_ORACLE = {"Random": {"nll_oracle": 10.310}, "MLE": {"nll_oracle": 9.038}, "SS": {"nll_oracle": 8.985},
                "PG-BLEU": {"nll_oracle": 8.946}, "SeqGAN": {"nll_oracle": 8.736},
                "RankGAN": {"nll_oracle": 8.247}, "LeakGAN": {"nll_oracle": 7.038},
                "RelGAN": {"nll_oracle": 6.680}}  # Nie et al. 2019, Table 1 (beta_max 100)
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
# The temperatures at which the oracle and text experiments sweep every run (quality against diversity):
# the fair comparison (Caccia et al., "Language GANs falling short"), so it is on unless asked off.
SWEEP_TEMPERATURES = (0.6, 0.8, 1.0, 1.2, 1.5)


@dataclass(frozen=True)
class SweepPlan:
    """Every run of an experiment sampled at each temperature: `quality` against `diversity`
    (metric names of run_evaluation.sweep), through the cached evaluations of `seqgan-music sweep`."""

    quality: str
    diversity: str
    temperatures: tuple[float, ...]


@dataclass(frozen=True)
class ExperimentRun:
    """One row of the table: a label, the run's name and its full settings; `init`, the run whose
    finished generator it starts from, its MLE phase skipped (`train --init`), where it can."""

    label: str
    run: str
    config: Config
    init: str | None = None


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
    sweep: SweepPlan | None = None  # the quality-diversity sweep of every run, when there is one


def oracle_experiment(preset_name: str = "cpu-oracle", corpus: str = "oracle", tag: str | None = None,
                      seed: int = 0, overrides: Sequence[str] = (), samples: int = 10_000,
                      methods: Sequence[str] = ORACLE_METHODS,
                      temperatures: Sequence[float] = SWEEP_TEMPERATURES) -> Experiment:
    """Table 1 of the SeqGAN paper, one row per method (by default the paper's: Random, the untrained
    generator, MLE, SS, PG-BLEU and SeqGAN) on the oracle, each scored on `samples` samples (the
    paper's 10,000). SeqGAN, when it is a row, is compared against every other row; else the last row.
    Every row is also swept over `temperatures` (none: no sweep): NLL_oracle against NLL_test."""
    if preset_name not in ORACLE_PRESETS:
        raise SeqganError(f"--preset must be one of {', '.join(ORACLE_PRESETS)}, got {preset_name!r}")
    rows = _shared_start(_method_rows(methods))
    name = _name(f"oracle-{preset_name.removesuffix('-oracle')}", tag)
    base = apply_overrides(preset(preset_name), [*overrides, f"run.seed={seed}"])
    runs = tuple(_method_run(name, method, base) for method in rows)
    evaluation = EvaluationSettings(references="test", samples=samples, seed=seed, metrics=("nll-oracle", "nll-test"))
    return Experiment(name, f"Synthetic data: the SeqGAN oracle ({preset_name} preset)", corpus, runs, evaluation,
                      ("nll_oracle", "nll_test"), _published(PAPER_ORACLE, runs), focus=_focus(runs),
                      sweep=_sweep_plan("nll_oracle", "nll_test", temperatures))


def _sweep_plan(quality: str, diversity: str, temperatures: Sequence[float]) -> SweepPlan | None:
    """The sweep over `temperatures` (checked: above 0, none twice), or None when there are none."""
    values = tuple(float(t) for t in temperatures)
    if any(not t > 0 for t in values):
        raise SeqganError(f"--sweep: temperatures must be above 0, got {','.join(f'{t:g}' for t in values)}")
    if len(set(values)) != len(values):
        raise SeqganError("--sweep: each temperature may be named once")
    return SweepPlan(quality, diversity, values) if values else None


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


def _shared_start(rows: tuple[str, ...]) -> tuple[str, ...]:
    """The rows in training order with the shared start: every training method other than MLE starts
    from the MLE row's generator (the papers compare methods from one pre-trained generator, and
    the MLE phase is trained once), so the MLE row comes before them, added when --methods lacks it
    (its scores are the baseline each method moved from). Random stays first."""
    trained = [row for row in rows if row not in (RANDOM, START)]
    if not trained:
        return rows
    return (*[row for row in rows if row == RANDOM], START, *trained)


def _published(paper: dict[str, dict[str, float]], runs: Sequence[ExperimentRun]) -> dict[str, dict[str, float]]:
    """The published figures of the rows that are run, by label."""
    return {run.label: paper[run.label] for run in runs if run.label in paper}


def _focus(runs: Sequence[ExperimentRun]) -> str:
    """SeqGAN when it is a row, else the last row: the run compared against every other."""
    labels = [run.label for run in runs]
    return "SeqGAN" if "SeqGAN" in labels else labels[-1]


def _method_run(experiment: str, method: str, base: Config) -> ExperimentRun:
    """The row of `method` ("random": MLE with no epochs, the untrained generator); a training method
    other than MLE starts from the MLE row's run (a method whose generator has another shape, such as
    leakgan's or relgan's, trains its own MLE phase instead: experiments.runner decides)."""
    if method == RANDOM:
        return ExperimentRun("Random", f"{experiment}-random", apply_overrides(base, ["run.method=mle", "mle.epochs=0"]))
    return ExperimentRun(method_class(method).label, f"{experiment}-{method}",
                         apply_overrides(base, [f"run.method={method}"]),
                         None if method == START else f"{experiment}-{START}")


# Texygen's benchmark (Zhu et al., SIGIR 2018) on COCO image captions: BLEU-2..5 of generated captions
# against the test captions, by the label of each method's row.
PAPER_COCO = {"MLE": {"bleu2": 0.731, "bleu3": 0.497, "bleu4": 0.305, "bleu5": 0.189},
              "SeqGAN": {"bleu2": 0.745, "bleu3": 0.498, "bleu4": 0.294, "bleu5": 0.180},
              "MaliGAN": {"bleu2": 0.673, "bleu3": 0.432, "bleu4": 0.257, "bleu5": 0.159},
              "RankGAN": {"bleu2": 0.743, "bleu3": 0.467, "bleu4": 0.264, "bleu5": 0.156},
              "LeakGAN": {"bleu2": 0.746, "bleu3": 0.528, "bleu4": 0.355, "bleu5": 0.230}}
TEXT_PRESET = "coco"
TEXT_HEADLINE = ("bleu2", "bleu3", "bleu4", "bleu5", "self_bleu4", "nll_test")
TEXT_NOTES = (
    "BLEU-n of a generated caption is nltk's sentence_bleu with weights 1/n and smoothing method1 "
    "(ours equals it: tests/test_bleu.py) against every test caption as a reference, averaged over the "
    "samples, on the corpus's tokens (built from --data: words with punctuation split off, as Texygen's "
    "nltk tokeniser), the end and padding tokens left out. Texygen's figures are read the same way: its "
    "Bleu class defaults to the first 500 test captions as references, but its MLE BLEU-2 of .731 is "
    "out of reach with those (held-out real captions score BLEU-2 .744 against all 10,000 COCO test "
    "captions and .519 against the first 500, measured here). Splitting off punctuation matters too: "
    "the same real captions score BLEU-2 .711 with words split on spaces only. The real-data row scores "
    "held-out captions the same way: the scale every figure is read against.",
    "Self-BLEU-4 scores each sample against all the other samples (never itself): higher is less "
    "diverse. NLL_test is the generator's mean negative log-likelihood per token of the test captions "
    "(each caption's words and its end token), not of the training data.",
    "Texygen trained each model on its own, longer schedule; the `coco` preset keeps Texygen's SeqGAN "
    "model sizes (generator embedding and hidden 32; D's filters of widths 2 and 3) on a schedule that "
    "fits a CPU, so the adversarial rows have had fewer rounds to move away from MLE.",
)


def text_methods() -> tuple[str, ...]:
    """The default rows of the text experiment: the methods of Texygen's COCO table this version
    can train (MLE and SeqGAN, and MaliGAN, RankGAN and LeakGAN where the method table has them)."""
    return tuple(method for method in METHODS if method_class(method).label in PAPER_COCO)


def text_experiment(corpus: str = "coco", tag: str | None = None, seed: int = 0, overrides: Sequence[str] = (),
                    samples: int = 1000, methods: Sequence[str] | None = None,
                    temperatures: Sequence[float] = SWEEP_TEMPERATURES) -> Experiment:
    """Texygen's COCO benchmark: one row per method (by default each of Texygen's rows this version
    can train) on the captions, scored by BLEU-2..5 of `samples` generated captions against the test
    captions, self-BLEU-4 and NLL_test, each next to Texygen's published BLEU. SeqGAN, when it is a
    row, is compared against every other row; else the last row. Every row is also swept over
    `temperatures` (none: no sweep): BLEU-4 against self-BLEU-4, the same n on both axes."""
    rows = _shared_start(_method_rows(text_methods() if methods is None else methods))
    name = _name(f"text-{corpus}", tag)
    base = apply_overrides(preset(TEXT_PRESET), [*overrides, f"run.seed={seed}"])
    runs = tuple(_method_run(name, method, base) for method in rows)
    evaluation = EvaluationSettings(references="test", samples=samples, seed=seed, metrics=("bleu", "self-bleu", "nll-test"))
    evaluation.check()
    return Experiment(name, f"Text: image captions ({TEXT_PRESET} preset), next to Texygen's benchmark", corpus, runs,
                      evaluation, TEXT_HEADLINE, _published(PAPER_COCO, runs), focus=_focus(runs), notes=TEXT_NOTES,
                      sweep=_sweep_plan("bleu4", "self_bleu4", temperatures))


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
