"""An experiment's report: `report.json` (every number) and `report.md` (the tables a reader wants:
results next to the paper's, p-values, music statistics, settings, wall times, the machine), and
for an experiment with a sweep, its quality-against-diversity curves drawn in report.md with the
points in `sweep.json` and `sweep.csv` (method, run, temperature, quality, diversity)."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import platform
from datetime import datetime, timezone
from collections.abc import Sequence
from pathlib import Path

import torch

from seqgan_music import __version__
from seqgan_music.atomic import write_text_atomic
from seqgan_music.corpora.corpus import load_corpus
from seqgan_music.experiments.runner import ExperimentResults
from seqgan_music.formatting import format_number, format_p
from seqgan_music.plotting import line_plot
from seqgan_music.run_evaluation.comparison import METRICS_BY_NAME, shown_metrics
from seqgan_music.run_evaluation.sweep import FLOOR_LABEL, SweepPoint, oracle_floor, sweep_plot
from seqgan_music.training.runs import checkpoints_dir, read_metrics, run_dir

REPORT_MD, REPORT_JSON, CURVES_CSV = "report.md", "report.json", "curves.csv"
SWEEP_JSON, SWEEP_CSV = "sweep.json", "sweep.csv"
SWEEP_COLUMNS = ("method", "run", "temperature", "quality", "diversity")
CURVE_LABELS = {"goodness": "goodness", "log_variance_output": "ln Var (output layer)",
                "log_variance_weight": "ln Var (one weight)", "d_acc_real": "D accuracy on real",
                "d_acc_fake": "D accuracy on generated", "mean_reward": "mean reward", "nll_test": "NLL_test"}


def machine_description() -> dict:
    """What the numbers were measured on: CPU model and cores, torch, and the GPU if there is one."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    machine = {"cpu": cpu, "cores": os.cpu_count(), "system": platform.platform(), "python": platform.python_version(),
               "torch": torch.__version__, "seqgan_music": __version__}
    if torch.cuda.is_available():
        machine["gpu"] = torch.cuda.get_device_name(0)
    return machine


def report_provenance(command: str) -> dict:
    """What every report records of how, when and where it was made."""
    return {"command": command, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": machine_description()}


def report_data(results: ExperimentResults, home: Path, command: str) -> dict:
    """Every number of the report as plain JSON-ready data."""
    experiment = results.experiment
    corpus = load_corpus(home, experiment.corpus)
    evaluations = list(results.evaluations.values())
    metrics = [m.name for m in shown_metrics(evaluations)]
    first = evaluations[0]
    return {
        "experiment": experiment.name,
        "title": experiment.title,
        **report_provenance(command),
        "corpus": {"name": corpus.name, "content_hash": corpus.manifest.get("content_hash"),
                   "encoding": corpus.manifest.get("encoding"), "windows": corpus.manifest.get("counts", {}).get("windows"),
                   "vocabulary": len(corpus.vocabulary)},
        "evaluation": first.settings,
        "runs": [{"label": entry.label, "run": entry.run, "method": entry.config.run.method,
                  "preset": entry.config.preset, "device": results.run_info[entry.label].get("device"),
                  "wall_seconds": results.run_info[entry.label].get("elapsed"),
                  "init": (results.run_info[entry.label].get("init") or {}).get("run"),
                  "evaluation_seconds": results.evaluations[entry.label].seconds}
                 for entry in experiment.runs],
        "results": {label: {m: json_number(e.value(m)) for m in metrics} for label, e in results.evaluations.items()},
        "real": {"split": first.real_split, **{m: json_number(first.real_value(m)) for m in metrics}},
        "paper": experiment.paper,
        "focus": experiment.focus,
        "headline": list(experiment.headline),
        "comparisons": [c.to_dict() | {"label": label} for label, pairs in results.comparisons.items() for c in pairs],
        "notes": list(experiment.notes),
        "curves": {entry.label: run_curve(run_dir(home, entry.run), experiment.curves)
                   for entry in experiment.runs} if experiment.curves else {},
        "sweep": sweep_data(results),
    }


def sweep_data(results: ExperimentResults) -> dict | None:
    """The sweep as plain data: its axes and temperatures, the real data's value of each axis, the
    oracle's entropy (the floor under NLL_oracle, else None), its wall time, and one point per run
    and temperature, labelled by the run's method; None when the experiment had no sweep."""
    plan = results.experiment.sweep
    if plan is None or not results.sweep:
        return None
    labels = {entry.run: entry.label for entry in results.experiment.runs}
    first = results.sweep[0]
    floor = oracle_floor(results.sweep, plan.quality)
    return {
        "quality": plan.quality, "diversity": plan.diversity, "temperatures": list(plan.temperatures),
        "real": {"quality": json_number(first.real_quality), "diversity": json_number(first.real_diversity)},
        "floor": None if floor is None else {"label": FLOOR_LABEL, "value": json_number(floor)},
        "seconds": results.sweep_seconds,
        "points": [{"method": labels[point.run], "run": point.run, "temperature": point.temperature,
                    "quality": json_number(point.quality), "diversity": json_number(point.diversity)}
                   for point in results.sweep],
    }


def run_curve(folder: Path, metrics: Sequence[str]) -> list[dict]:
    """The run's logged `metrics` against the adversarial round: round 0 holds each metric's last
    value logged before the adversarial phase (the start it learns from: NLL_test from the end of
    MLE, D's accuracy from its pre-training), then every round that logged one."""
    points, start = [], {}
    for record in read_metrics(folder):
        values = {m: record[m] for m in metrics if isinstance(record.get(m), (int, float))}
        if not values:
            continue
        if record.get("phase") == "adversarial":
            points.append({"round": record["step"], **values})
        elif not points:
            start.update(values)
    return ([{"round": 0, **start}] if start else []) + points


def report_markdown(data: dict) -> str:
    """The report as Markdown tables."""
    metrics = list(next(iter(data["results"].values())).keys())
    headline = [m for m in data["headline"] if m in metrics]
    paper_metrics = sorted({m for values in data["paper"].values() for m in values}, key=metrics.index)
    lines = [f"# {data['title']}", "", f"`{data['command']}`, {data['created']}, seqgan-music {data['machine']['seqgan_music']}.", ""]
    lines += ["## Results", "", f"Evaluated on {data['evaluation']['samples']:,} samples per run at temperature "
              f"{data['evaluation']['temperature']:g}, against the {data['evaluation']['references']} split "
              f"of corpus `{data['corpus']['name']}`. The real-data row scores {data['evaluation']['samples']:,} "
              f"(at most) real {data['real']['split']} windows the same way: the scale every figure is read against.", ""]
    header = ["method", *[metric_label(m) for m in headline], *[f"paper {metric_label(m)}" for m in paper_metrics], "training time"]
    lines += [markdown_row(header), markdown_row(["---"] * len(header))]
    times = {run["label"]: run["wall_seconds"] for run in data["runs"]}
    for label, values in data["results"].items():
        paper = data["paper"].get(label, {})
        lines.append(markdown_row([label, *[format_number(values[m]) for m in headline], *[format_number(paper.get(m)) for m in paper_metrics],
                           format_duration(times.get(label))]))
    lines.append(markdown_row([f"real data ({data['real']['split']})", *[format_number(data["real"][m]) for m in headline],
                       *[""] * len(paper_metrics), ""]))
    for label, values in data["paper"].items():
        if label not in data["results"]:
            lines.append(markdown_row([f"{label} (not run)", *[""] * len(headline), *[format_number(values.get(m)) for m in paper_metrics], ""]))
    lines += start_markdown(data["runs"])
    if data.get("notes"):
        lines += ["", *[f"- {note}" for note in data["notes"]]]
    lines += curves_markdown(data.get("curves", {}))
    lines += sweep_markdown(data.get("sweep"), data["evaluation"]["samples"])
    if data["comparisons"]:
        others = list(dict.fromkeys(c["label"] for c in data["comparisons"]))
        lines += ["", f"## p-values: {data['focus']} against each", "",
                  "Welch's t-test / two-sided permutation test (10,000 shuffles) on per-window scores; "
                  "the difference is the focus run's mean minus the other's.", ""]
        header = ["metric", *[f"vs {label}: difference" for label in others], *[f"vs {label}: p" for label in others]]
        lines += [markdown_row(header), markdown_row(["---"] * len(header))]
        by_metric: dict[str, dict[str, dict]] = {}
        for c in data["comparisons"]:
            by_metric.setdefault(c["metric"], {})[c["label"]] = c
        for metric, row in by_metric.items():
            differences = [format_number(row[label]["difference"]) if label in row else "" for label in others]
            p_values = [f"{format_p(row[label]['welch_p'])} / {format_p(row[label]['permutation_p'])}" if label in row else ""
                        for label in others]
            lines.append(markdown_row([metric_label(metric), *differences, *p_values]))
    rest = [m for m in metrics if m not in headline]
    if rest:
        lines += ["", "## All metrics", "", markdown_row(["metric", *data["results"], f"real ({data['real']['split']})"]),
                  markdown_row(["---"] * (len(data["results"]) + 2))]
        for metric in rest:
            lines.append(markdown_row([metric_label(metric), *[format_number(v[metric]) for v in data["results"].values()],
                               format_number(data["real"][metric])]))
    lines += ["", "## Settings", "", f"- corpus `{data['corpus']['name']}`: windows {data['corpus']['windows']}, "
              f"vocabulary {data['corpus']['vocabulary']}, encoding {data['corpus']['encoding']}, "
              f"content hash {str(data['corpus']['content_hash'])[:12]}"]
    for run in data["runs"]:
        start = f" from run `{run['init']}`'s generator (its MLE phase skipped)" if run.get("init") else ""
        lines.append(f"- {run['label']}: run `{run['run']}`, method {run['method']}, preset {run['preset']}{start}, "
                     f"device {run['device']}, trained in {format_duration(run['wall_seconds'])}, "
                     f"evaluated in {run['evaluation_seconds']:.1f} s (its config.toml is in the run folder)")
    evaluation = data["evaluation"]
    lines.append(f"- evaluation: {evaluation['samples']} samples, temperature {evaluation['temperature']:g}, "
                 f"seed {evaluation['seed']}, references {evaluation['references']}, metrics {', '.join(evaluation['metrics'])}, "
                 f"device {evaluation['device']}")
    machine = data["machine"]
    lines += ["", "## Machine", "", f"{machine['cpu']}, {machine['cores']} cores{', ' + machine['gpu'] if 'gpu' in machine else ''}; "
              f"{machine['system']}; Python {machine['python']}, torch {machine['torch']}.", ""]
    return "\n".join(lines)


def start_markdown(runs: list[dict]) -> list[str]:
    """Which rows started from another run's generator (their MLE phase skipped, so their training
    time leaves it out) and which trained their own MLE phase; nothing when no row started from one."""
    started = [run for run in runs if run.get("init")]
    if not started:
        return []
    starts = list(dict.fromkeys(run["init"] for run in started))
    by_run = {run["run"]: run["label"] for run in runs}
    names = ", ".join(f"run `{start}`" + (f" (the {by_run[start]} row)" if start in by_run else "") for start in starts)
    own = [run["label"] for run in runs if not run.get("init") and run["run"] not in starts and run["label"] != "Random"]
    line = (f"Shared start: {', '.join(run['label'] for run in started)} started from the finished generator of {names}, "
            "their MLE phase skipped (their training time leaves it out): every difference between them comes after MLE.")
    if own:
        line += (f" {', '.join(own)} trained their own MLE phase (a method whose generator has another shape than "
                 "the start's, or a run trained before the shared start).")
    return ["", line]


def curves_markdown(curves: dict[str, list[dict]]) -> list[str]:
    """Each curve metric drawn against the round for every run, then its start, end and mean."""
    metrics = list(dict.fromkeys(m for points in curves.values() for point in points for m in point if m != "round"))
    if not metrics:
        return []
    return ["", "## Curves", "", "Logged during training at every evaluation (`metrics.jsonl` of each run; "
            "the data is in report.json and curves.csv); round 0 is the start the adversarial phase learns from.", "",
            *curve_plots(curves, metrics)]


def curve_plots(curves: dict[str, list[dict]], metrics: Sequence[str]) -> list[str]:
    """Each of `metrics` drawn against the round for every run (a text plot), then a table of its
    first, last and mean value per run."""
    lines = []
    for metric in metrics:
        series = {label: [(p["round"], p[metric]) for p in points if metric in p] for label, points in curves.items()}
        lines += ["```", line_plot(series, "adversarial round", CURVE_LABELS.get(metric, metric)), "```", ""]
    header = ["method", *[f"{CURVE_LABELS.get(m, m)}: first → last (mean)" for m in metrics]]
    lines += [markdown_row(header), markdown_row(["---"] * len(header))]
    for label, points in curves.items():
        cells = []
        for metric in metrics:
            values = [p[metric] for p in points if metric in p]
            shown = [_curve_value(metric, v) for v in (values[0], values[-1], sum(values) / len(values))] if values else []
            cells.append(f"{shown[0]} → {shown[1]} ({shown[2]})" if values else "")
        lines.append(markdown_row([label, *cells]))
    return lines


def sweep_markdown(sweep: dict | None, samples: int) -> list[str]:
    """The sweep's curves drawn (the `sweep` command's plot, the floor included), what they show,
    and a table of each method's points by temperature."""
    if not sweep:
        return []
    quality, diversity = sweep["quality"], sweep["diversity"]
    temperatures = ", ".join(f"{t:g}" for t in sweep["temperatures"])
    lines = ["", "## Quality against diversity", "",
             f"Every run sampled at each temperature ({temperatures}; "
             f"{samples:,} samples per point): {_axis(quality)} against {_axis(diversity)}, one curve per "
             "method. A lower temperature buys quality with diversity, so one point per method hides the "
             "trade-off; a method is better only where its curve lies beyond another's (Caccia et al., "
             "'Language GANs falling short')."]
    if sweep["floor"] is not None:
        lines[-1] += (f" The line {sweep['floor']['label']} ({format_number(sweep['floor']['value'])} nats per "
                      "token) is the oracle's NLL_oracle of its own held-out samples (the real-data row), the "
                      "floor no honest generator goes below: a generator that matches the oracle scores it, and "
                      "one below it has traded diversity for the oracle's likeliest sequences.")
    elif sweep["real"]["quality"] is not None:
        lines[-1] += (f" Real held-out data scores {metric_label(quality)} {format_number(sweep['real']['quality'])} "
                      f"and {metric_label(diversity)} {format_number(sweep['real']['diversity'])}.")
    lines[-1] += f" The points are in {SWEEP_JSON} and {SWEEP_CSV}; the sweep took {format_duration(sweep['seconds'])}."
    points = [SweepPoint(p["run"], p["temperature"], _finite_or_nan(p["quality"]), _finite_or_nan(p["diversity"]),
                         _finite_or_nan(sweep["real"]["quality"]), _finite_or_nan(sweep["real"]["diversity"]))
              for p in sweep["points"]]
    names = {p["run"]: p["method"] for p in sweep["points"]}
    lines += ["", "```", sweep_plot(points, quality, diversity, names=names), "```", ""]
    header = ["method", *[f"T {t:g}: {metric_label(quality)} / {metric_label(diversity)}" for t in sweep["temperatures"]]]
    lines += [markdown_row(header), markdown_row(["---"] * len(header))]
    cells: dict[str, dict[float, str]] = {}
    for p in sweep["points"]:
        cells.setdefault(p["method"], {})[p["temperature"]] = f"{format_number(p['quality'])} / {format_number(p['diversity'])}"
    for method, row in cells.items():
        lines.append(markdown_row([method, *[row.get(t, "") for t in sweep["temperatures"]]]))
    return lines


def _axis(metric: str) -> str:
    """A metric's label with which way is better."""
    better = METRICS_BY_NAME[metric].better if metric in METRICS_BY_NAME else ""
    return f"{metric_label(metric)} ({better} is better)" if better in ("higher", "lower") else metric_label(metric)


def _finite_or_nan(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def sweep_csv(sweep: dict) -> str:
    """The sweep's points as one CSV table: method, run, temperature, quality, diversity (empty where
    a value is missing), the numbers as sweep.json holds them, so both read back equal."""
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(SWEEP_COLUMNS)
    writer.writerows([point[column] for column in SWEEP_COLUMNS] for point in sweep["points"])
    return table.getvalue()


def _curve_value(metric: str, value: float) -> str:
    """Logs of variances to two decimals (their noise is larger), scores as every other metric."""
    return f"{value:.2f}" if metric.startswith("log_") else format_number(value)


def curves_csv(curves: dict[str, list[dict]]) -> str:
    """The curves as one CSV table: method, round, then one column per metric (empty where not logged)."""
    metrics = list(dict.fromkeys(m for points in curves.values() for point in points for m in point if m != "round"))
    rows = [",".join(["method", "round", *metrics])]
    for label, points in curves.items():
        for point in points:
            rows.append(",".join([label, str(point["round"]), *[f"{point[m]:.6g}" if m in point else "" for m in metrics]]))
    return "\n".join(rows) + "\n"


def write_report(results: ExperimentResults, home: Path, command: str) -> Path:
    """Write `<home>/checkpoints/<experiment>/report.md` and `report.json` atomically; returns the folder."""
    data = report_data(results, home, command)
    return write_report_files(results, home, data, report_markdown(data))


def write_report_files(results: ExperimentResults, home: Path, data: dict, markdown: str) -> Path:
    """`data` as report.json, `markdown` as report.md, its curves as curves.csv (when it has any) and
    its sweep as sweep.json and sweep.csv (when it has one; an earlier sweep's are removed when it
    has none), each written atomically to `<home>/checkpoints/<experiment>/`; returns the folder."""
    folder = checkpoints_dir(home) / results.experiment.name
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(folder / REPORT_JSON, json.dumps(data, indent=1, allow_nan=False))
    write_text_atomic(folder / REPORT_MD, markdown)
    if data["curves"]:
        write_text_atomic(folder / CURVES_CSV, curves_csv(data["curves"]))
    if data.get("sweep"):
        write_text_atomic(folder / SWEEP_JSON, json.dumps({"experiment": data["experiment"], **data["sweep"]},
                                                          indent=1, allow_nan=False))
        write_text_atomic(folder / SWEEP_CSV, sweep_csv(data["sweep"]))
    else:  # an earlier report's sweep would be read as this one's
        for name in (SWEEP_JSON, SWEEP_CSV):
            (folder / name).unlink(missing_ok=True)
    return folder


def json_number(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 6)


def metric_label(metric: str) -> str:
    return METRICS_BY_NAME[metric].label if metric in METRICS_BY_NAME else metric


def markdown_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def format_duration(seconds: float | None) -> str:
    if not isinstance(seconds, (int, float)):
        return "-"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"
