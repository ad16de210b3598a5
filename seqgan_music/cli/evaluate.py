"""`seqgan-music evaluate`: runs side by side on BLEU, self-BLEU, NLL, MSE, music statistics, form and C2ST."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from seqgan_music.cli.common import HomeOption, console, error_console, home_path, user_errors
from seqgan_music.errors import SeqganError

METRICS_HELP = (
    "Comma-separated metric groups (default: all that apply to the corpus, c2st only when named): bleu "
    "(BLEU-2..5 against the references), self-bleu (self-BLEU-4 among the samples), nll-test (the generator's "
    "NLL per token of the test split: its windows, or its whole tunes for a whole-tune run; for vae and arae, whose likelihood is intractable, an upper bound, shown as ≤ and named in the JSON's nll_test_bound), nll-oracle (the "
    "oracle's NLL of the samples; oracle corpora), mse (semitones² to the nearest reference melody; music), "
    "music (histogram distances, scale consistency, range, empty beats, novelty, longest copy; music), "
    "goodness (valid grammar windows; toy grammar), form (per tune as played: the share of bars, after the "
    "first, equal to an earlier bar, as played and as notated; the share of 4-bar phrases with 3 of 4 bars "
    "equal to an earlier phrase's; ending on the tonic of the estimated key; length in bars; part length and "
    "the share with parts; music), c2st (classifier two-sample test: the held-out accuracy, with its 95% "
    "interval, of fresh small CNNs telling the samples from real reference-split sequences, 5-fold; 0.5 = "
    "indistinguishable; the real column tests real sequences of its split the same way; it trains 10 classifiers, up to a minute per run on a CPU, so it runs only when "
    "named: --metrics c2st)."
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

    Whole-tune runs ([data] unit = "tune") sample whole tunes as long as their longest training
    tune. Their form metrics read the tunes played out (repeats expanded) and their `real (SPLIT,
    tunes)` column the real tunes of that split; their C2ST and NLL_test read whole tunes. BLEU,
    self-BLEU, MSE and the music statistics read one window of each played tune, cut as the corpus
    cuts its tunes, against the same real windows as a window run. A window run's form metrics
    read its windows (and the real windows). Window and tune runs may be compared: the table then
    has a real column per unit, and the form metrics, C2ST and NLL_test get no p-values across
    units.

    Example: seqgan-music evaluate folk-mle folk-tunes --metrics form,c2st --json scores.json
    """
    from seqgan_music.evaluation.scores import parse_groups
    from seqgan_music.run_evaluation.comparison import compare_runs
    from seqgan_music.run_evaluation.runs import EvaluationSettings
    from seqgan_music.training.device import pick_device

    settings = EvaluationSettings(references, samples, temperature, seed, parse_groups(metrics))
    settings.check()
    with console.status("evaluating...") as status:
        evaluations, comparisons = compare_runs(
            home_path(home), runs, settings, pick_device(device), not no_cache, permutations,
            lambda run: status.update(f"evaluating {run} ({samples} samples)..."))
    console.print(evaluation_table(evaluations, comparisons))
    cached = [e.run for e in evaluations if e.cached]
    if cached:
        console.print(f"cached results reused for {', '.join(cached)} (--no-cache recomputes)", highlight=False)
    for evaluation in evaluations:
        if evaluation.cache_error:
            error_console.print(f"[yellow]warning:[/] results of {escape(evaluation.run)} not cached: "
                                f"{escape(evaluation.cache_error)}", highlight=False, soft_wrap=True)
    if json_file is not None:
        write_json(json_file, evaluations, comparisons)
        console.print(f"wrote {json_file}", highlight=False)


def evaluation_table(evaluations: Sequence, comparisons: Sequence[Sequence]) -> Table:
    """Metrics as rows, runs as columns, then the real data, then each run's p-values against the first."""
    from seqgan_music.run_evaluation.comparison import comparison_grid

    grid = comparison_grid(evaluations, comparisons)
    table = Table(title=grid.title, title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("metric")
    for run in grid.runs:
        table.add_column(run, justify="right", overflow="fold")
    for heading in grid.real_headings:
        table.add_column(heading, justify="right", style="dim")
    for heading in grid.p_headings:
        table.add_column(heading, justify="right", overflow="fold")
    for row in grid.rows:
        values = [(f"[bold]{value}[/]" if index == row.best else value) for index, value in enumerate(row.values)]
        table.add_row(row.label, *values, *row.real, *row.p_values)
    return table


def write_json(path: Path, evaluations: Sequence, comparisons: Sequence[Sequence]) -> None:
    from seqgan_music.atomic import write_text_atomic

    data = {"runs": [e.to_dict() for e in evaluations],
            "comparisons": [c.to_dict() for pair in comparisons for c in pair]}
    try:
        write_text_atomic(path, json.dumps(data, indent=1, allow_nan=False))
    except OSError as error:
        raise SeqganError(f"cannot write {path} ({error.strerror}): pick another --json path") from None

