"""`seqgan-music evaluate`: runs side by side on BLEU, self-BLEU, NLL, MSE and music statistics."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from seqgan_music.cli.common import HomeOption, console, home_path, user_errors
from seqgan_music.errors import SeqganError
from seqgan_music.formatting import format_number, format_p

METRICS_HELP = (
    "Comma-separated metric groups (default: all that apply to the corpus): bleu (BLEU-2..5 against the "
    "references), self-bleu (self-BLEU-4 among the samples), nll-test (the generator's NLL per token of the "
    "test split), nll-oracle (the oracle's NLL of the samples; oracle corpora), mse (semitones² to the "
    "nearest reference melody; music), music (histogram distances, scale consistency, range, empty beats, "
    "novelty, longest copy; music), goodness (valid grammar windows; toy grammar)."
)
DeviceOption = Annotated[str, typer.Option("--device", help="auto (CUDA when available), cpu, cuda or mps. Samples differ between devices.")]


@user_errors
def evaluate(
    runs: Annotated[list[str], typer.Argument(help="One or more run names (see `seqgan-music runs`); the first is the baseline.")],
    references: Annotated[str, typer.Option("--references", help="Split the samples are scored against: train, valid or test.")] = "test",
    samples: Annotated[int, typer.Option("--samples", help="Samples drawn from each run.")] = 1000,
    metrics: Annotated[str | None, typer.Option("--metrics", help=METRICS_HELP)] = None,
    temperature: Annotated[float, typer.Option("--temperature", help="Sampling temperature; NLL_test is taken under the same temperature.")] = 1.0,
    seed: Annotated[int, typer.Option("--seed", help="Sampling seed: the same seed gives the same samples and numbers.")] = 0,
    json_file: Annotated[Path | None, typer.Option("--json", help="Also write every number, per-window scores and p-values to this JSON file.")] = None,
    permutations: Annotated[int, typer.Option("--permutations", min=1, help="Shuffles in each permutation test.")] = 10_000,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Recompute even when the run folder holds these results.")] = False,
    device: DeviceOption = "auto",
    home: HomeOption = None,
) -> None:
    """Score runs' samples side by side, with the real data's own scores as the scale and p-values
    (Welch's t-test / permutation test) of every run against the first.

    MSE: for each generated window, the mean over its time steps of the squared pitch difference in
    semitones to its nearest reference window (a note against silence costs 144, an octave squared).
    The `real` column scores real windows of another held-out split (valid, or test when the
    references are train or valid) against the same references. Results are cached in each run
    folder and reused until the checkpoint or the settings change.

    Example: seqgan-music evaluate folk-mle folk-seqgan --samples 1000 --json scores.json
    """
    from seqgan_music.evaluation.comparison import check_comparable, compare_pair
    from seqgan_music.evaluation.runs import EvaluationSettings, evaluate_run
    from seqgan_music.training.device import pick_device

    settings = EvaluationSettings(references, samples, temperature, seed, parse_metric_list(metrics))
    settings.check()
    root, chosen = home_path(home), pick_device(device)
    evaluations = []
    for run in dict.fromkeys(runs):
        with console.status(f"evaluating {run} ({samples} samples)..."):
            evaluations.append(evaluate_run(root, run, settings, chosen, use_cache=not no_cache))
    check_comparable(evaluations)
    comparisons = [compare_pair(evaluations[0], other, permutations) for other in evaluations[1:]]
    console.print(evaluation_table(evaluations, comparisons))
    cached = [e.run for e in evaluations if e.cached]
    if cached:
        console.print(f"cached results reused for {', '.join(cached)} (--no-cache recomputes)", highlight=False)
    if json_file is not None:
        write_json(json_file, evaluations, comparisons)
        console.print(f"wrote {json_file}", highlight=False)


def parse_metric_list(text: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


def evaluation_table(evaluations: Sequence, comparisons: Sequence[Sequence]) -> Table:
    """Metrics as rows, runs as columns, then the real data, then each run's p-values against the first."""
    from seqgan_music.evaluation.comparison import shown_metrics

    first = evaluations[0]
    settings = first.settings
    table = Table(title=f"{first.corpus}: {settings['samples']} samples per run at temperature "
                        f"{settings['temperature']:g}, against the {settings['references']} split",
                  title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("metric")
    for evaluation in evaluations:
        table.add_column(evaluation.run, justify="right", overflow="fold")
    table.add_column(f"real ({first.real_split})", justify="right", style="dim")
    for evaluation in evaluations[1:]:
        table.add_column(f"p {evaluation.run} vs {first.run}\nWelch / perm.", justify="right", overflow="fold")
    p_values = [{c.metric: c.result for c in pair} for pair in comparisons]
    for metric in shown_metrics(evaluations):
        values = [e.value(metric.name) for e in evaluations]
        best = _best(values, metric.better)
        cells = [(f"[bold]{format_number(v)}[/]" if i == best else format_number(v)) for i, v in enumerate(values)]
        cells.append(format_number(first.real_value(metric.name)))
        for pair in p_values:
            result = pair.get(metric.name)
            cells.append(f"{format_p(result.welch_p)} / {format_p(result.permutation_p)}" if result else "")
        table.add_row(metric.label, *cells)
    return table


def write_json(path: Path, evaluations: Sequence, comparisons: Sequence[Sequence]) -> None:
    from seqgan_music.atomic import write_text_atomic

    data = {"runs": [e.to_dict() for e in evaluations],
            "comparisons": [c.to_dict() for pair in comparisons for c in pair]}
    try:
        write_text_atomic(path, json.dumps(data, indent=1, allow_nan=False))
    except OSError as error:
        raise SeqganError(f"cannot write {path} ({error.strerror}): pick another --json path") from None


def _best(values: list[float], better: str) -> int | None:
    """Index of the best finite value when there are several runs and a direction, else None."""
    finite = [(v, i) for i, v in enumerate(values) if math.isfinite(v)]
    if len(finite) < 2 or better not in ("higher", "lower"):
        return None
    return (max(finite) if better == "higher" else min(finite))[1]
