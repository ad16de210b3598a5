"""The in-filling experiment (issue 20): MaskGAN against MLE in-filling, and the left-context fill
of a plain MLE run, on held-out Nottingham tunes (bars masked) and COCO captions (a span masked).

Each corpus is one `Experiment` of three rows, trained by the usual runner (ordinary runs, resumed
and reused): "MLE in-filling" (a maskgan run with no adversarial rounds), "MaskGAN" (its
adversarial rounds, started from the MLE in-filling run's generator, `train --init`) and "MLE,
left context" (a plain MLE run filling each gap from the tokens before it, the best of K candidates
by the likelihood of the kept tokens after the gap, as `compose --fill` does without a MaskGAN
model). Every row fills the same masked test items (experiments.infill_masks, drawn by the seed)
and is scored the same way (experiments.infill_scores).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from seqgan_music.config import Config, apply_overrides, preset
from seqgan_music.errors import SeqganError
from seqgan_music.experiments.definitions import Experiment, ExperimentRun
from seqgan_music.paths import check_name
from seqgan_music.run_evaluation.runs import EvaluationSettings

TASKS = ("music", "text")
SCHEDULES = ("quick", "full")
MUSIC_MASKS = ("bars", "random-bars")  # bars FIRST_BAR..LAST_BAR of every tune; as many bars drawn at random
TEXT_MASKS = ("span",)  # one contiguous span of TEXT_MASK_RATE of each caption's words
FIRST_BAR, LAST_BAR = 5, 8  # as notated, from 1 (a pickup is bar 0)
TEXT_MASK_RATE = 0.5  # the MaskGAN paper's is_present_rate: half the tokens masked
CANDIDATES = 8  # the left-context row's K
MUSIC_METRICS = ("bleu4", "bleu4_all", "exact", "bar_repeat", "notated_bar_repeat", "phrase_repeat", "ends_on_tonic")
TEXT_METRICS = ("bleu2", "bleu3", "bleu4", "exact")
FORM_METRICS = ("bar_repeat", "notated_bar_repeat", "phrase_repeat", "ends_on_tonic")
MLE_INFILL, MASKGAN, LEFT_CONTEXT = "MLE in-filling", "MaskGAN", "MLE, left context"
FOCUS = MASKGAN

# The corpora's runs: whole tunes with a plain LSTM decoder in every row (the lookback and bar
# attention inputs only the plain generator has would make the left-context row another model),
# one torch thread (the 2-core machine is shared).
MUSIC_BASE = ("data.unit=tune", "generator.lookback=false", "generator.attention=false",
              "generator.header_inputs=false", "run.threads=1")
TEXT_BASE = ("run.threads=1",)
# Schedules, on the presets (folk-tunes, coco) with these changes. quick, measured on the 2-core machine with other
# jobs running (load 8-12): training 1.6 + 11.9 + 0.2 minutes (music: MLE in-filling, MaskGAN, plain MLE) and
# 5.3 + 5.9 + 4.6 (text), filling and scoring 45 s: about 30 minutes. full: not run here.
SCHEDULE_SETTINGS: dict[tuple[str, str], tuple[str, ...]] = {
    ("music", "quick"): ("generator.embedding=16", "generator.hidden=32", "maskgan.critic_hidden=16", "mle.epochs=3",
                         "pretrain_d.rounds=1", "pretrain_d.negatives=200", "adversarial.rounds=20",
                         "adversarial.batch_size=16", "adversarial.negatives=64", "run.eval_samples=8"),
    ("music", "full"): ("generator.embedding=32", "generator.hidden=128", "mle.epochs=10", "adversarial.rounds=50",
                        "adversarial.batch_size=16", "adversarial.negatives=128", "run.eval_samples=20"),
    ("text", "quick"): ("mle.epochs=3", "pretrain_d.rounds=1", "pretrain_d.negatives=500", "adversarial.rounds=20",
                        "adversarial.batch_size=64", "adversarial.negatives=256", "adversarial.eval_every=5",
                        "run.eval_samples=100"),
    ("text", "full"): ("mle.epochs=20", "adversarial.rounds=100", "adversarial.batch_size=64",
                       "adversarial.negatives=512", "adversarial.eval_every=10"),
}
PRESETS = {"music": "folk-tunes", "text": "coco"}
DEFAULT_ITEMS = {("music", "quick"): 0, ("music", "full"): 0, ("text", "quick"): 300, ("text", "full"): 1000}


@dataclass(frozen=True)
class InfillPart:
    """One corpus of the experiment: its rows (`experiment`), the masks each row fills, how many
    held-out items (0: every one that can be masked) and the left-context row's candidates."""

    task: str
    experiment: Experiment
    masks: tuple[str, ...]
    items: int
    candidates: int
    seed: int

    @property
    def metrics(self) -> tuple[str, ...]:
        return self.experiment.headline


@dataclass(frozen=True)
class InfillExperiment:
    """Both corpora's parts; the report goes to `<home>/checkpoints/<name>/`."""

    name: str
    schedule: str
    parts: tuple[InfillPart, ...]


def infill_experiment(schedule: str = "full", tasks: Sequence[str] = TASKS, music_corpus: str = "nottingham",
                      text_corpus: str = "coco", tag: str | None = None, seed: int = 0,
                      overrides: Sequence[str] = (), items: int | None = None,
                      candidates: int = CANDIDATES) -> InfillExperiment:
    """The experiment on `tasks` (music, text or both) with the `schedule`'s settings (then
    `overrides`, for every run); `items` held-out tunes or captions (None: the schedule's)."""
    if schedule not in SCHEDULES:
        raise SeqganError(f"--schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
    chosen = tuple(dict.fromkeys(task.strip() for task in tasks if task.strip()))
    if not chosen or any(task not in TASKS for task in chosen):
        raise SeqganError(f"--corpora: name music, text or both (music,text), got {','.join(tasks) or 'nothing'!r}")
    if items is not None and items < 0:
        raise SeqganError(f"--items must be 0 (every held-out item) or more, got {items}")
    if not 1 <= candidates <= 64:
        raise SeqganError(f"--candidates must be between 1 and 64, got {candidates}")
    base_name = "infill" if schedule == "full" else f"infill-{schedule}"
    name = check_name(f"{base_name}-{tag}" if tag else base_name, "experiment")
    corpora = {"music": music_corpus, "text": text_corpus}
    parts = tuple(_part(task, schedule, name, corpora[task], seed, overrides,
                        DEFAULT_ITEMS[(task, schedule)] if items is None else items, candidates)
                  for task in chosen)
    return InfillExperiment(name, schedule, parts)


def _part(task: str, schedule: str, name: str, corpus: str, seed: int, overrides: Sequence[str], items: int,
          candidates: int) -> InfillPart:
    base = apply_overrides(preset(PRESETS[task]), [*(MUSIC_BASE if task == "music" else TEXT_BASE),
                                                    *SCHEDULE_SETTINGS[(task, schedule)], *overrides,
                                                    f"run.seed={seed}"])
    prefix = f"{name}-{task}"
    runs = infill_rows(prefix, base)
    title = ("Held-out Nottingham tunes: bars masked and filled again" if task == "music"
             else "Held-out COCO captions: a span masked and filled again")
    evaluation = EvaluationSettings(references="test", samples=max(items, 2), seed=seed)
    experiment = Experiment(prefix, title, corpus, runs, evaluation, MUSIC_METRICS if task == "music" else TEXT_METRICS,
                            focus=FOCUS)
    return InfillPart(task, experiment, MUSIC_MASKS if task == "music" else TEXT_MASKS, items, candidates, seed)


def infill_rows(prefix: str, base: Config) -> tuple[ExperimentRun, ...]:
    """The three rows on one corpus, in training order: MLE in-filling (maskgan with no adversarial
    rounds, which skips its D pre-training too), MaskGAN (its rounds, from the first row's generator) and the
    plain MLE run the left-context row fills with."""
    start = f"{prefix}-mle-infill"
    return (
        ExperimentRun(MLE_INFILL, start, apply_overrides(base, ["run.method=maskgan", "adversarial.rounds=0"])),
        ExperimentRun(MASKGAN, f"{prefix}-maskgan", apply_overrides(base, ["run.method=maskgan"]), start),
        ExperimentRun(LEFT_CONTEXT, f"{prefix}-mle", apply_overrides(base, ["run.method=mle"])),
    )
