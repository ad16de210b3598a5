"""The in-filling experiment's report in `<home>/checkpoints/<experiment>/`: report.json (every
number, each row's per-item means, p-values, settings and times), report.csv (one line per corpus,
mask, row and metric) and report.md (the tables, what each metric reads, the command)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from pathlib import Path

from seqgan_music.atomic import write_text_atomic
from seqgan_music.config import config_to_dict
from seqgan_music.evaluation.significance import Comparison
from seqgan_music.experiments.infill import FIRST_BAR, LAST_BAR, LEFT_CONTEXT, TEXT_MASK_RATE, InfillExperiment
from seqgan_music.experiments.infill_run import PartResults
from seqgan_music.experiments.report import format_duration, json_number, markdown_row, report_provenance
from seqgan_music.formatting import format_number, format_p
from seqgan_music.training.runs import checkpoints_dir

REPORT_MD, REPORT_JSON, REPORT_CSV = "report.md", "report.json", "report.csv"
CSV_COLUMNS = ("corpus", "mask", "row", "run", "metric", "value")
METRIC_LABELS = {"bleu2": "BLEU-2", "bleu3": "BLEU-3", "bleu4": "BLEU-4", "bleu4_all": "BLEU-4 (all spans)",
                 "exact": "exact", "bar_repeat": "bar repeats", "notated_bar_repeat": "bar repeats, notated",
                 "phrase_repeat": "phrase repeats", "ends_on_tonic": "ends on the tonic"}
MASK_LABELS = {"bars": f"bars {FIRST_BAR}-{LAST_BAR}", "random-bars": f"{LAST_BAR - FIRST_BAR + 1} bars at random",
               "span": f"one span of {TEXT_MASK_RATE:.0%} of the words"}
NOTES = (
    "BLEU-n: nltk's sentence BLEU (smoothing method1) of each item's filled span (the tokens written at its "
    "masked positions, in order) against its own real span, the only reference, averaged over the items. "
    "BLEU-4 (all spans): against every held-out item's real span as references, the corpus-level reading of "
    "the SeqGAN paper's music table. exact: the share of items whose filled span is the real one token for token.",
    "Music: whole held-out tunes (grid16); the steps of the masked bars are written again, bar lines and "
    "structure tokens kept, so every filled bar has its length; tunes with no bar after bar "
    f"{LAST_BAR} are left out. The form metrics (evaluation/form.py: repeated bars as played and as notated, "
    "4-bar phrases repeating, the last note on the estimated tonic) are of the filled tunes; the Real row is "
    "the same tunes unfilled.",
    "Rows: MLE in-filling is a maskgan run with no adversarial rounds; MaskGAN goes on from its generator "
    "(train --init) with the adversarial rounds; MLE, left context is a plain MLE run writing each gap from "
    "the tokens before it, the best of K candidates by the likelihood of the kept tokens after the gap "
    "(compose --fill's fallback). Every row fills the same masked items with the same noise seed; a gap never "
    "holds a bar line, structure, end or padding token.",
    "p-values: MaskGAN's per-item values against each other row's (Welch's t-test and a permutation test of "
    "the difference of means; the items are the same on both sides, so the tests are conservative).",
)


def infill_report_data(experiment: InfillExperiment, results: list[PartResults], command: str, wall_seconds: float) -> dict:
    """Every number of the report as plain JSON-ready data."""
    return {
        "experiment": experiment.name,
        "schedule": experiment.schedule,
        **report_provenance(command),
        "wall_seconds": round(wall_seconds, 1),
        "parts": [_part_data(result) for result in results],
    }


def _part_data(result: PartResults) -> dict:
    part = result.part
    experiment = part.experiment
    return {
        "corpus": part.task,
        "corpus_name": experiment.corpus,
        "title": experiment.title,
        "metrics": list(part.metrics),
        "items": part.items,
        "candidates": part.candidates,
        "seed": part.seed,
        "focus": experiment.focus,
        "runs": [{"label": entry.label, "run": entry.run, "method": entry.config.run.method,
                  "init": (result.run_info[entry.label].get("init") or {}).get("run"),
                  "wall_seconds": result.run_info[entry.label].get("elapsed"),
                  "settings": config_to_dict(entry.config)} for entry in experiment.runs],
        "masks": [{"mask": mask.mask, "items": mask.items, "masked_share": json_number(mask.masked_share),
                   "rows": [{"label": row.label, "run": row.run, "fill_seconds": row.seconds,
                             **{metric: json_number(row.value(metric)) for metric in part.metrics}}
                            for row in mask.rows],
                   "real": ({metric: json_number(mask.real.value(metric)) for metric in part.metrics
                             if metric in mask.real.per_item} if mask.real else None),
                   "comparisons": [{"label": label, "metric": metric, **_comparison_data(comparison)}
                                   for label, by_metric in mask.comparisons.items()
                                   for metric, comparison in by_metric.items()]}
                  for mask in result.masks],
    }


def _comparison_data(comparison: Comparison) -> dict:
    """The comparison's fields, NaN (a constant metric on both sides) as None."""
    return {key: json_number(value) if isinstance(value, float) else value for key, value in asdict(comparison).items()}


def infill_report_markdown(data: dict) -> str:
    lines = [f"# In-filling: MaskGAN against MLE in-filling ({data['schedule']} schedule)", "",
             f"Command: `{data['command']}`  ", f"Wall time: {format_duration(data['wall_seconds'])} "
             f"(training the rows not trained before, filling and scoring); {data['machine']['cpu']}, "
             f"{data['machine']['cores']} cores.", ""]
    for part in data["parts"]:
        lines += _part_markdown(part)
    lines += ["## How to read it", "", *[f"- {note}" for note in NOTES], ""]
    return "\n".join(lines)


def _part_markdown(part: dict) -> list[str]:
    metrics = part["metrics"]
    lines = [f"## {part['title']} (corpus `{part['corpus_name']}`)", ""]
    for mask in part["masks"]:
        lines += [f"### {MASK_LABELS.get(mask['mask'], mask['mask'])}: {mask['items']} items, "
                  f"{mask['masked_share']:.1%} of their tokens masked", "",
                  markdown_row(["row", *[METRIC_LABELS.get(m, m) for m in metrics], "fill time"]),
                  markdown_row(["---"] * (len(metrics) + 2))]
        for row in mask["rows"]:
            label = row["label"] + (f" (best of {part['candidates']})" if row["label"] == LEFT_CONTEXT else "")
            lines.append(markdown_row([label, *[format_number(row[m]) for m in metrics],
                                       format_duration(row["fill_seconds"])]))
        if mask["real"] is not None:
            lines.append(markdown_row(["Real (unfilled)", *[format_number(mask["real"].get(m)) for m in metrics], "-"]))
        lines.append("")
        if mask["comparisons"]:
            labels = list(dict.fromkeys(c["label"] for c in mask["comparisons"]))
            found = {(c["label"], c["metric"]): c for c in mask["comparisons"]}
            lines += [f"Permutation p-values, {part['focus']} against each row:", "",
                      markdown_row(["against", *[METRIC_LABELS.get(m, m) for m in metrics]]),
                      markdown_row(["---"] * (len(metrics) + 1))]
            for label in labels:
                lines.append(markdown_row([label, *[_p_cell(found.get((label, m))) for m in metrics]]))
            lines.append("")
    lines += ["Runs:", "", markdown_row(["row", "run", "method", "started from", "training time"]),
              markdown_row(["---"] * 5)]
    for run in part["runs"]:
        lines.append(markdown_row([run["label"], f"`{run['run']}`", run["method"], run["init"] or "-",
                                   format_duration(run["wall_seconds"])]))
    return [*lines, ""]


def _p_cell(comparison: dict | None) -> str:
    if comparison is None:
        return "-"
    difference = comparison["difference"]
    sign = "+" if difference is None or difference >= 0 else "-"
    return f"{sign}{format_number(None if difference is None else abs(difference))} (p {format_p(comparison['permutation_p'])})"


def infill_report_csv(data: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for part in data["parts"]:
        for mask in part["masks"]:
            for row in mask["rows"]:
                for metric in part["metrics"]:
                    writer.writerow([part["corpus"], mask["mask"], row["label"], row["run"], metric,
                                     "" if row[metric] is None else row[metric]])
            for metric, value in (mask["real"] or {}).items():
                writer.writerow([part["corpus"], mask["mask"], "Real", "", metric, "" if value is None else value])
    return out.getvalue()


def write_infill_report(home: Path, experiment: InfillExperiment, results: list[PartResults], command: str,
                        wall_seconds: float) -> Path:
    """report.json, report.csv and report.md, each written atomically; returns the folder."""
    data = infill_report_data(experiment, results, command, wall_seconds)
    folder = checkpoints_dir(home) / experiment.name
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(folder / REPORT_JSON, json.dumps(data, indent=1, allow_nan=False))
    write_text_atomic(folder / REPORT_CSV, infill_report_csv(data))
    write_text_atomic(folder / REPORT_MD, infill_report_markdown(data))
    return folder
