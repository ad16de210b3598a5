"""`seqgan-music sweep`: quality (BLEU, NLL_oracle, MSE, goodness, a form metric or the C2ST) against
diversity across sampling temperatures."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from seqgan_music.cli.common import HomeOption, console, home_path, user_errors
from seqgan_music.cli.evaluate import DeviceOption
from seqgan_music.errors import SeqganError
from seqgan_music.formatting import format_number


QUALITY_HELP = (
    "bleu2..bleu5, nll_oracle, mse or goodness (default: nll_oracle for oracle corpora, else bleu4); on music "
    "corpora also a form metric (`evaluate --help`, group form): bar_repeat, notated_bar_repeat, phrase_repeat, "
    "ends_on_tonic, tune_bars, notated_bars, part_bars or with_parts, each read against the real column; or "
    "c2st, the classifier two-sample test's accuracy (0.5 = indistinguishable from real; trains 10 small "
    "classifiers per point, up to a minute each on a CPU)."
)


@user_errors
def sweep(
    runs: Annotated[list[str], typer.Argument(help="One or more run names (see `seqgan-music runs`).")],
    temperatures: Annotated[str, typer.Option("--temperatures", help="Comma-separated sampling temperatures.")] = "0.6,0.7,0.8,0.9,1.0,1.1,1.2,1.3",
    quality: Annotated[str | None, typer.Option("--quality", help=QUALITY_HELP)] = None,
    diversity: Annotated[str | None, typer.Option("--diversity", help="self_bleu4 or nll_test (default: nll_test for oracle corpora, else self_bleu4).")] = None,
    references: Annotated[str, typer.Option("--references", help="Split BLEU and MSE score against: train, valid or test.")] = "test",
    samples: Annotated[int, typer.Option("--samples", help="Samples per run and temperature.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Sampling seed.")] = 0,
    json_file: Annotated[Path | None, typer.Option("--json", help="Also write the points to this JSON file.")] = None,
    device: DeviceOption = "auto",
    home: HomeOption = None,
) -> None:
    """Sweep the sampling temperature and plot quality against diversity for each run.

    A lower temperature trades diversity for quality, so a fair comparison of two generators sets
    their whole curves side by side, not one point each. Every point is a cached evaluation; the
    real columns give the real data's own values of both metrics (as `evaluate`'s real column:
    real windows, or the real tunes for a whole-tune run's form metrics and C2ST). On an oracle
    corpus the plot draws the oracle's own entropy (its NLL_oracle of its own held-out samples, the
    real nll_oracle) as a floor line: no honest generator goes below it.

    Example: seqgan-music sweep folk-mle folk-seqgan --temperatures 0.7,0.85,1.0,1.15

    Example: seqgan-music sweep folk-mle folk-tunes --quality bar_repeat
    """
    from seqgan_music.run_evaluation.comparison import check_runs_share_a_corpus
    from seqgan_music.run_evaluation.runs import EvaluationSettings
    from seqgan_music.run_evaluation.sweep import (
        FLOOR_LABEL,
        default_axes,
        oracle_floor,
        parse_temperatures,
        run_corpus,
        sweep_plot,
        temperature_sweep,
    )
    from seqgan_music.training.device import pick_device

    values = parse_temperatures(temperatures)
    check_runs_share_a_corpus(home_path(home), runs)
    default_quality, default_diversity = default_axes(run_corpus(home_path(home), runs[0]))
    quality, diversity = quality or default_quality, diversity or default_diversity
    base = EvaluationSettings(references=references, samples=samples, seed=seed)
    base.check()
    with console.status("sweeping...") as status:
        points = temperature_sweep(home_path(home), runs, values, quality, diversity, base, pick_device(device),
                                   lambda run, t: status.update(f"evaluating {run} at temperature {t:g}..."))
    table = Table(title=f"temperature sweep: {quality} against {diversity}", title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("run", "temperature", quality, diversity):
        table.add_column(column, justify="left" if column == "run" else "right")
    for column in (f"real {quality}", f"real {diversity}"):
        table.add_column(column, justify="right", style="dim")
    for point in points:
        table.add_row(point.run, f"{point.temperature:g}", format_number(point.quality), format_number(point.diversity),
                      format_number(point.real_quality), format_number(point.real_diversity))
    console.print(table)
    console.print(Text(sweep_plot(points, quality, diversity)))
    floor = oracle_floor(points, quality)
    if floor is not None:
        console.print(f"{FLOOR_LABEL} {format_number(floor)}: the oracle's NLL_oracle of its own held-out samples; "
                      "a generator below it has traded diversity for the oracle's likeliest sequences", highlight=False)
    if json_file is not None:
        from seqgan_music.atomic import write_text_atomic

        data = {"quality": quality, "diversity": diversity, "settings": {**asdict(base), "temperatures": values},
                "floor": None if floor is None else {"label": FLOOR_LABEL, "value": floor},
                "points": [p.to_dict() for p in points]}
        try:
            write_text_atomic(json_file, json.dumps(data, indent=1))
        except OSError as error:
            raise SeqganError(f"cannot write {json_file} ({error.strerror}): pick another --json path") from None
        console.print(f"wrote {json_file}", highlight=False)

