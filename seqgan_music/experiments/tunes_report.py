"""The `tunes` experiment's report: `report.json` (every number) and `report.md` (C2ST, the form
metrics, NLL_test and self-BLEU of each run next to the real held-out tunes, the p-values of
SeqGAN against MLE, each run's training time by phase, the check that both runs share their MLE
phase, and what the adversarial phase did round by round: D's accuracy, the reward, NLL_test)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from seqgan_music.corpora.corpus import load_corpus
from seqgan_music.evaluation.scores import ScoreSet
from seqgan_music.experiments.report import (
    curve_plots,
    format_duration,
    json_number,
    markdown_row,
    metric_label,
    report_provenance,
    run_curve,
    write_report_files,
)
from seqgan_music.experiments.runner import ExperimentResults
from seqgan_music.formatting import format_number, format_p
from seqgan_music.phases import ADVERSARIAL, Phase
from seqgan_music.training.methods import method_phases
from seqgan_music.training.runs import read_metrics, run_dir

# Shown below the headline: how long the tunes are and whether parts were found in them.
EXTRA_METRICS = ("tune_bars", "notated_bars", "part_bars", "with_parts")
PHASE_LABELS = {"mle": "MLE", "pretrain_d": "D pre-training", "adversarial": "adversarial"}
ROUND_METRICS = ("d_acc_real", "d_acc_fake", "mean_reward", "g_loss", "nll_test")
FORMS_SHOWN = 5
C2ST_DETAIL = ("c2st_low", "c2st_high", "c2st_p", "c2st_samples")


def tune_report_data(results: ExperimentResults, home: Path, command: str) -> dict:
    """Every number of the report as plain JSON-ready data."""
    experiment = results.experiment
    corpus = load_corpus(home, experiment.corpus)
    metrics = [*experiment.headline, *[m for m in EXTRA_METRICS if m not in experiment.headline]]
    folders = {entry.label: run_dir(home, entry.run) for entry in experiment.runs}
    first = next(iter(results.evaluations.values()))
    return {
        "experiment": experiment.name,
        "title": experiment.title,
        **report_provenance(command),
        "corpus": {"name": corpus.name, "content_hash": corpus.manifest.get("content_hash"),
                   "tunes": {split: len(tunes) for split, tunes in corpus.tune_sequences.items()},
                   "vocabulary": len(corpus.vocabulary)},
        "evaluation": first.settings,
        "headline": list(experiment.headline),
        "metrics": metrics,
        "curve_metrics": list(experiment.curves),
        "runs": [{"label": entry.label, "run": entry.run, "method": entry.config.run.method,
                  "preset": entry.config.preset, "threads": entry.config.run.threads,
                  "device": results.run_info[entry.label].get("device"),
                  "wall_seconds": results.run_info[entry.label].get("elapsed"),
                  "phase_seconds": phase_seconds(folders[entry.label], method_phases(entry.config.run.method)),
                  "evaluation_seconds": results.evaluations[entry.label].seconds}
                 for entry in experiment.runs],
        "results": {label: _set_data(e.generated, e.value, metrics) for label, e in results.evaluations.items()},
        "real": _set_data(first.real, first.real_value, metrics) | {"split": first.real_split},
        "focus": experiment.focus,
        "comparisons": [c.to_dict() | {"label": label} for label, pairs in results.comparisons.items()
                        for metric in metrics for c in pairs if c.metric == metric],
        "mle_phase": {label: mle_phase_end(folder) for label, folder in folders.items()},
        "curves": {entry.label: run_curve(folders[entry.label], experiment.curves) for entry in experiment.runs
                   if ADVERSARIAL in method_phases(entry.config.run.method)},
        "rounds": {entry.label: adversarial_rounds(folders[entry.label]) for entry in experiment.runs
                   if ADVERSARIAL in method_phases(entry.config.run.method)},
    }


def phase_seconds(folder: Path, phases: tuple[Phase, ...]) -> dict[str, float]:
    """Training seconds of each phase, from the elapsed time logged after each unit (evaluations
    and checkpoints included)."""
    ends: dict[str, float] = {}
    for record in read_metrics(folder):
        ends[record["phase"]] = float(record["elapsed"])
    seconds, before = {}, 0.0
    for phase in (p.name for p in phases):
        if phase in ends:
            seconds[phase] = round(ends[phase] - before, 1)
            before = ends[phase]
    return seconds


def mle_phase_end(folder: Path) -> dict:
    """What the run's MLE phase ended with: NLL_test and NLL_valid at the last epoch, the kept epoch."""
    last: dict = {}
    for record in read_metrics(folder):
        if record.get("phase") == "mle":
            last = record
    return {key: last.get(key) for key in ("nll_test", "nll_valid", "best_epoch", "g_loss")}


def adversarial_rounds(folder: Path) -> list[dict]:
    """Every adversarial round's logged D accuracy, reward, generator loss and NLL_test (where evaluated)."""
    return [{"round": record["step"], **{m: record[m] for m in ROUND_METRICS if m in record}}
            for record in read_metrics(folder) if record.get("phase") == "adversarial"]


def tune_report_markdown(data: dict) -> str:
    """The report as Markdown."""
    metrics, focus = data["metrics"], data["focus"]
    evaluation, real = data["evaluation"], data["real"]
    lines = [f"# {data['title']}", "", f"`{data['command']}`, {data['created']}, "
             f"seqgan-music {data['machine']['seqgan_music']}.", "", "## Results", "",
             f"{evaluation['samples']:,} whole tunes sampled per run at temperature {evaluation['temperature']:g}, "
             f"each read up to its end token, scored against the {evaluation['references']} split's "
             f"{data['corpus']['tunes'].get(evaluation['references'], 0)} tunes of corpus `{data['corpus']['name']}`: "
             f"C2ST is the held-out accuracy of fresh classifiers telling them from those tunes (0.5: "
             f"indistinguishable), with its 95% interval; the form metrics are means over tunes as played; "
             f"NLL_test is per token of the {evaluation['references']} tunes. The real row scores the "
             f"{real['tunes']} {real['split']} tunes the same way. Self-BLEU-4 reads one window of each tune "
             f"(cut as the corpus cuts its tunes), as `evaluate` does for whole-tune runs.", ""]
    times = {run["label"]: run["wall_seconds"] for run in data["runs"]}
    shown = data["headline"]
    header = ["method", *[metric_label(m) for m in shown], "training time"]
    lines += [markdown_row(header), markdown_row(["---"] * len(header))]
    for label, values in data["results"].items():
        lines.append(markdown_row([label, *[_cell(values, m) for m in shown], format_duration(times.get(label))]))
    lines.append(markdown_row([f"real data ({real['split']})", *[_cell(real, m) for m in shown], ""]))
    lines += _comparisons_markdown(data, focus)
    lines += _training_markdown(data)
    lines += _rounds_markdown(data)
    lines += ["", "## Tune lengths and forms", "", markdown_row(["", *data["results"], f"real ({real['split']})"]),
              markdown_row(["---"] * (len(data["results"]) + 2))]
    for metric in (m for m in metrics if m not in shown):
        lines.append(markdown_row([metric_label(metric), *[_cell(v, metric) for v in data["results"].values()],
                                   _cell(real, metric)]))
    lines.append(markdown_row(["forms (commonest)", *[_forms(v["forms"]) for v in data["results"].values()],
                               _forms(real["forms"])]))
    machine = data["machine"]
    lines += ["", "## Settings", ""]
    for run in data["runs"]:
        lines.append(f"- {run['label']}: run `{run['run']}`, method {run['method']}, preset {run['preset']}, "
                     f"{run['threads']} torch thread(s), device {run['device']}, evaluated in "
                     f"{run['evaluation_seconds']:.0f} s (its config.toml is in the run folder)")
    lines += [f"- corpus `{data['corpus']['name']}`: whole tunes "
              + ", ".join(f"{split} {count}" for split, count in data["corpus"]["tunes"].items())
              + f", vocabulary {data['corpus']['vocabulary']}, content hash {str(data['corpus']['content_hash'])[:12]}",
              f"- evaluation seed {evaluation['seed']}",
              "", "## Machine", "", f"{machine['cpu']}, {machine['cores']} cores"
              f"{', ' + machine['gpu'] if 'gpu' in machine else ''}; {machine['system']}; Python {machine['python']}, "
              f"torch {machine['torch']}.", ""]
    return "\n".join(lines)


def _comparisons_markdown(data: dict, focus: str) -> list[str]:
    if not data["comparisons"]:
        return []
    lines = ["", f"## p-values: {focus} against each", "",
             "Welch's t-test / two-sided permutation test (10,000 shuffles) on per-sample values: per tune "
             "(form, self-BLEU; NLL_test per held-out tune), per held-out prediction for C2ST (right or wrong); "
             f"the difference is {focus}'s mean minus the other's.", "",
             markdown_row(["metric", "vs", "other", focus, "difference", "p (Welch / perm.)"]),
             markdown_row(["---"] * 6)]
    for c in data["comparisons"]:
        lines.append(markdown_row([metric_label(c["metric"]), c["label"], format_number(c["mean_a"]),
                                   format_number(c["mean_b"]), format_number(c["difference"]),
                                   f"{format_p(c['welch_p'])} / {format_p(c['permutation_p'])}"]))
    return lines


def _training_markdown(data: dict) -> list[str]:
    lines = ["", "## Training", "", markdown_row(["method", "MLE", "D pre-training", "adversarial", "total",
                                                   "NLL_test after MLE", "kept MLE epoch"]),
             markdown_row(["---"] * 7)]
    for run in data["runs"]:
        phases = run["phase_seconds"]
        end = data["mle_phase"][run["label"]]
        lines.append(markdown_row([run["label"], *[format_duration(phases.get(p)) if p in phases else "-"
                                                   for p in PHASE_LABELS], format_duration(run["wall_seconds"]),
                                   format_number(end.get("nll_test")), str(end.get("best_epoch", "-"))]))
    ends = [tuple(end.get(k) for k in ("nll_test", "nll_valid", "best_epoch")) for end in data["mle_phase"].values()]
    same = len(set(ends)) == 1
    lines += ["", ("Both runs' MLE phases ended alike (NLL_test, NLL_valid and the kept epoch equal): SeqGAN "
                   "starts from the MLE run's generator." if same else
                   "**The runs' MLE phases ended differently** (NLL_test, NLL_valid or the kept epoch): SeqGAN does "
                   "not start from the MLE run's generator, so the comparison mixes in the MLE phase.")]
    return lines


def _rounds_markdown(data: dict) -> list[str]:
    lines = []
    for label, rounds in data["rounds"].items():
        if not rounds:
            continue
        lines += ["", f"## {label}: the adversarial phase round by round", "",
                  "From the run's metrics.jsonl: D's accuracy on real and on generated tunes after the round's "
                  "D steps, the mean reward (Q) of the generated tokens and the policy-gradient loss of the "
                  "round's generator step, NLL_test where it was evaluated; round 0 is the start (D after "
                  "pre-training, the generator after MLE).", ""]
        lines += curve_plots({label: data["curves"][label]}, data["curve_metrics"])
        header = ["round", "D acc. real", "D acc. generated", "mean reward", "G loss", "NLL_test"]
        lines += ["", markdown_row(header), markdown_row(["---"] * len(header))]
        for point in [*[p for p in data["curves"][label] if p["round"] == 0], *rounds]:
            lines.append(markdown_row([str(point["round"]), *[format_number(point.get(m)) if m in point else ""
                                                              for m in ROUND_METRICS]]))
    return lines


def write_tune_report(results: ExperimentResults, home: Path, command: str) -> Path:
    """Write `<home>/checkpoints/<experiment>/report.md`, `report.json` and `curves.csv` atomically."""
    data = tune_report_data(results, home, command)
    return write_report_files(results, home, data, tune_report_markdown(data))


def _set_data(scores: ScoreSet, value: Callable[[str], float], metrics: list[str]) -> dict:
    """One set's figures (a run's samples, or the real tunes): each metric's value, the C2ST's
    interval, p against 0.5 and tunes per set, the forms found and how many tunes have a form value."""
    return {**{m: json_number(value(m)) for m in metrics},
            "c2st_detail": {k: _detail(k, scores.figures[k]) for k in C2ST_DETAIL if k in scores.figures},
            "forms": scores.counts.get("forms", {}), "tunes": len(scores.per_window.get("tune_bars", []))}


def _detail(key: str, value: float) -> float | None:
    """A C2ST figure as JSON: its p-value unrounded (a p of 1e-20 must not read as 0), the rest rounded."""
    if key == "c2st_p":
        return float(value) if math.isfinite(value) else None
    return json_number(value)


def _cell(values: dict, metric: str) -> str:
    """A metric's figure; the C2ST accuracy with its 95% interval; "-" where the set has none."""
    if values.get(metric) is None:
        return "-"
    detail = values["c2st_detail"]
    if metric == "c2st" and {"c2st_low", "c2st_high"} <= set(detail):
        return f"{values[metric]:.3f} [{detail['c2st_low']:.2f}, {detail['c2st_high']:.2f}]"
    return format_number(values[metric])


def _forms(counts: dict[str, int]) -> str:
    return ", ".join(f"{form} {count}" for form, count in list(counts.items())[:FORMS_SHOWN]) or "-"
