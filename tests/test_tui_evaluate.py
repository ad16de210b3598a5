"""The Evaluate pane driven headless with Textual's Pilot, on tiny runs of a tiny generated corpus.

The pane must show the numbers `seqgan-music evaluate` prints for the same runs and settings, so
the main test computes both from scratch in two copies of one project and compares them row by
row. pytest-asyncio is not a dependency, so each test runs its coroutine with `asyncio.run`.
"""

from __future__ import annotations

import functools
import json
import random
import shutil
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, DataTable, Input, SelectionList, Static
from typer.testing import CliRunner

from seqgan_music.cli import app as cli_app
from seqgan_music.corpora.corpus import load_corpus
from seqgan_music.corpora.encodings import music_encoding
from seqgan_music.corpora.grammar import build_grammar_corpus
from seqgan_music.corpora.melody import Key, Melody, Note, bar_lines
from seqgan_music.corpora.music import build_music_corpus
from seqgan_music.corpora.split import SplitPlan
from seqgan_music.evaluation.music_stats import music_stats
from seqgan_music.run_evaluation.runs import CACHE_FILE, EvaluationSettings
from seqgan_music.run_evaluation.sweep import temperature_sweep
from seqgan_music.tui.app import HelpScreen, SeqganApp
from seqgan_music.tui.evaluate import (
    EvaluatePane,
    EvaluationResults,
    FormValues,
    StepProgress,
    SweepPlot,
    grouped_rows,
    occupied,
    read_settings,
    read_sweep,
    run_prompts,
)
from seqgan_music.tui.widgets import BarChart, TaskProgress
from training_helpers import train

import tui_helpers
from tui_helpers import messages, settle

SIZE = (120, 40)
MUSIC, GRAMMAR = "tunes", "grammar15"
C_MAJOR = (0, 2, 4, 5, 7, 9, 11)


# --- fixtures ----------------------------------------------------------------------------------


def stepwise_tune(seed: int) -> Melody:
    """Eight bars of a stepwise melody in G major: enough shape for the music statistics."""
    rng = random.Random(seed)
    notes, beat, degree = [], 0.0, 7
    while beat < 32:
        length = rng.choice([0.5, 0.5, 1.0, 1.5])
        degree = max(0, min(14, degree + rng.choice([-2, -1, -1, 0, 1, 1, 2])))
        notes.append(Note(55 + 12 * (degree // 7) + C_MAJOR[degree % 7], beat, beat + length))
        beat += length
    return Melody(notes, bar_lines([(0.0, "4/4")], beat), "4/4", Key(1), title=f"tune {seed}", source=f"t{seed}.mid")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two tiny music runs (`long`, `short`) and a grammar run (`sums`); never written to by tests."""
    root = tmp_path_factory.mktemp("project")
    build_music_corpus(MUSIC, [stepwise_tune(i) for i in range(30)], music_encoding("grid16"), SplitPlan(),
                       {"kind": "midi"}).save(root)
    build_grammar_corpus(GRAMMAR, 15, count=200, seed=1).save(root)
    train(root, MUSIC, "short", epochs=1)
    train(root, MUSIC, "long", epochs=2)
    train(root, GRAMMAR, "sums", epochs=1)
    return root


@pytest.fixture
def home(project: Path, tmp_path: Path) -> Path:
    """A copy of the project of the test's own (evaluating writes the cache into run folders)."""
    return Path(shutil.copytree(project, tmp_path / "home"))


@pytest.fixture
def other_home(project: Path, tmp_path: Path) -> Path:
    """A second, independent copy: the CLI computes there, from scratch."""
    return Path(shutil.copytree(project, tmp_path / "other"))


# --- helpers -----------------------------------------------------------------------------------


drive = functools.partial(tui_helpers.drive, size=SIZE, panes=(EvaluatePane,))




async def tick(app: SeqganApp, pilot: Pilot, *names: str) -> None:
    """Tick runs in this order with the keyboard (l, home, down..., space)."""
    runs = app.query_one("#evaluate-runs", SelectionList)
    for name in names:
        await pilot.press("l", "home", *["down"] * runs.get_option_index(name), "space")
    assert runs.selected[-len(names):] == list(names)


async def fill(app: SeqganApp, pilot: Pilot, **fields: str) -> None:
    """Type into settings fields: focus each by clicking, clear it, type the text."""
    for name, text in fields.items():
        field = app.query_one(f"#evaluate-{name}", Input)
        await pilot.click(field)
        field.clear()
        await pilot.press(*text)
        assert field.value == text




def table_rows(app: SeqganApp) -> list[list[str]]:
    table = app.query_one("#scores-table", DataTable)
    return [[str(cell) for cell in table.get_row_at(index)] for index in range(table.row_count)]


def cli_rows(output: str) -> list[str]:
    """The CLI table's body rows, whitespace-normalised (between the header rule and the blank line)."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if "───" in line) + 1
    rows = []
    for line in lines[start:]:
        if not line.strip():
            break
        rows.append(" ".join(line.split()))
    return rows


def cache_files(home: Path) -> list[Path]:
    return sorted((home / "checkpoints").glob(f"*/{CACHE_FILE}"))


# --- the runs list -----------------------------------------------------------------------------


def test_runs_list_shows_corpus_method_status_and_the_baseline(home: Path) -> None:
    async def script(app: SeqganApp, pilot: Pilot) -> None:
        runs = app.query_one("#evaluate-runs", SelectionList)
        assert app.focused is runs  # keyboard-first: the list has the focus at start
        prompts = [str(runs.get_option_at_index(i).prompt).split() for i in range(runs.option_count)]
        assert prompts == [["long", MUSIC, "mle", "finished"], ["short", MUSIC, "mle", "finished"],
                           ["sums", GRAMMAR, "mle", "finished"]]
        assert "first = baseline" in runs.border_subtitle
        await tick(app, pilot, "short", "long")
        assert runs.border_subtitle == "baseline: short"
        shutil.copytree(home / "checkpoints" / "long", home / "checkpoints" / "again")
        info = json.loads((home / "checkpoints" / "again" / "run.json").read_text())
        (home / "checkpoints" / "again" / "run.json").write_text(json.dumps({**info, "name": "again"}))
        await pilot.press("r")
        await settle(pilot)
        assert runs.option_count == 4 and runs.selected == ["short", "long"]  # ticks and their order kept
        assert runs.border_subtitle == "baseline: short"

    drive(home, script)


def test_space_ticks_the_highlighted_run_at_once(project: Path) -> None:
    async def script(app: SeqganApp, pilot: Pilot) -> None:
        runs = app.query_one("#evaluate-runs", SelectionList)
        assert app.focused is runs and runs.highlighted == 0  # no down arrow needed first
        await pilot.press("space")
        assert runs.selected == ["long"]
        await pilot.press("down", "space")
        assert runs.selected == ["long", "short"] and runs.border_subtitle == "baseline: long"

    drive(project, script)


# --- evaluating --------------------------------------------------------------------------------


def test_the_pane_shows_the_numbers_the_cli_prints(home: Path, other_home: Path) -> None:
    """Both compute from scratch (separate projects, --no-cache) with the same settings."""
    shown: dict[str, object] = {}

    async def script(app: SeqganApp, pilot: Pilot) -> None:
        await tick(app, pilot, "short", "long")
        await pilot.press("o")  # the samples field
        assert app.focused is app.query_one("#evaluate-samples", Input)
        await pilot.press("end", *["backspace"] * 4, *"30", "tab", "end", "backspace", *"0.9", "enter")
        await settle(pilot)
        assert not messages(app, "error"), messages(app, "error")
        table = app.query_one("#scores-table", DataTable)
        assert table.display and "30 samples per run at temperature 0.9" in str(table.border_title)
        shown["columns"] = [str(column.label) for column in table.ordered_columns]
        shown["rows"] = table_rows(app)
        shown["summary"] = str(app.query_one("#results-message", Static).content)
        assert app.query_one("#evaluate-progress", TaskProgress).status == "evaluated short, long"

    drive(home, script)
    assert shown["summary"] == "baseline (p-values against): short"  # nothing came from a cache
    assert [path.parent.name for path in cache_files(home)] == ["long", "short"]
    result = CliRunner().invoke(cli_app, ["evaluate", "short", "long", "--samples", "30", "--temperature", "0.9",
                                          "--no-cache", "--home", str(other_home)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "cached results reused" not in result.output
    assert shown["columns"] == ["metric", "short", "long", "real (valid)", "p long vs short\nWelch / perm."]
    expected = cli_rows(result.output)
    pane = [" ".join(" ".join(row).split()) for row in shown["rows"]]
    assert len(pane) == len(expected) >= 20
    assert pane == expected
    labels = [row[0] for row in shown["rows"]]
    assert {"BLEU-2", "BLEU-4", "self-BLEU-4", "NLL_test", "MSE", "pitch-class KL", "interval overlap"} <= set(labels)
    nll = shown["rows"][labels.index("NLL_test")]
    assert nll[3] == "-" and "/" in nll[4]  # NLL_test belongs to the generator: no real value, but p-values


def test_music_runs_show_pitch_class_and_interval_histograms_against_the_real_set(home: Path) -> None:
    """Evaluated by the CLI first: the pane reuses its cache, histograms included."""
    result = CliRunner().invoke(cli_app, ["evaluate", "long", "short", "--samples", "20", "--home", str(home)])
    assert result.exit_code == 0, result.output

    async def script(app: SeqganApp, pilot: Pilot) -> None:
        await tick(app, pilot, "long", "short")
        await fill(app, pilot, samples="20")
        await pilot.click("#evaluate-button")
        await settle(pilot)
        assert str(app.query_one("#results-message", Static).content).endswith("cached results reused for long, short")
        pitch = app.query_one("#pitch-class-chart", BarChart)
        intervals = app.query_one("#interval-chart", BarChart)
        assert pitch.display and intervals.display
        assert pitch.border_title == "pitch classes, % of notes" and pitch.region.height > 0
        labels = [label.split() for label, _ in pitch.rows]
        assert len(pitch.rows) == 12 * 3
        assert labels[:4] == [["C", "real", "(valid)"], ["long"], ["short"], ["C#", "real", "(valid)"]]
        corpus = load_corpus(home, MUSIC)
        real = music_stats(corpus.splits["valid"], corpus)  # fewer valid windows than samples: all of them
        cached_shares = pytest.approx(100 * real.pitch_classes, abs=1e-3)  # the cache keeps 6 decimals
        assert [value for _, value in pitch.rows[0::3]] == cached_shares
        for offset in range(3):
            assert sum(value for _, value in pitch.rows[offset::3]) == pytest.approx(100, abs=1e-3)
            assert sum(value for _, value in intervals.rows[offset::3]) == pytest.approx(100, abs=1e-3)
        assert [v for _, v in pitch.rows[1::3]] != [v for _, v in pitch.rows[0::3]]
        first, last = intervals.rows[0][0].split()[0], intervals.rows[-3][0].split()[0]
        assert int(first) < 0 < int(last)  # trimmed to the intervals some set uses, both directions
        assert any(v > 0 for _, v in intervals.rows[:3]) and any(v > 0 for _, v in intervals.rows[-3:])
        assert "█" in "".join(pitch.plain_lines())

    drive(home, script)


def test_a_grammar_run_has_no_histograms_and_a_refused_selection_can_be_corrected(home: Path) -> None:
    async def script(app: SeqganApp, pilot: Pilot) -> None:
        await tick(app, pilot, "sums", "short")
        await fill(app, pilot, samples="10")
        await pilot.press("enter")
        await settle(pilot)
        assert messages(app, "error") == ["runs 'sums' and 'short' were trained on different corpora "
                                          f"({GRAMMAR!r}, {MUSIC!r}): evaluate them separately"]
        await pilot.press("escape", "space")  # back to the runs, where the cursor is still on short: untick it
        assert app.query_one("#evaluate-runs", SelectionList).selected == ["sums"]
        await pilot.press("e")
        await settle(pilot)
        labels = [row[0] for row in table_rows(app)]
        assert "goodness" in labels and "MSE" not in labels
        assert not app.query_one("#pitch-class-chart", BarChart).display
        assert not app.query_one("#interval-chart", BarChart).display

    drive(home, script)


# --- the sweep ---------------------------------------------------------------------------------


def test_the_sweep_plots_one_curve_per_run(home: Path, other_home: Path) -> None:
    shown: dict[str, object] = {}

    async def script(app: SeqganApp, pilot: Pilot) -> None:
        await tick(app, pilot, "short", "long")
        await fill(app, pilot, samples="20", temperatures="0.8,1.2")
        await pilot.click("#sweep-button")
        await settle(pilot)
        plot = app.query_one(SweepPlot)
        assert plot.display and plot.region.height > 0
        assert "temperature sweep: bleu4 against self_bleu4" in str(plot.border_title)
        shown["lines"], shown["points"] = plot.plain_lines(), plot.view.points
        assert not app.query_one("#scores-table", DataTable).display  # a sweep fills no table

    drive(home, script)
    lines = shown["lines"]
    assert lines[0] == "bleu4" and "self_bleu4" in lines[-2]
    assert lines[-1].split() == ["●", "short", "▲", "long"]
    plotted = "".join(lines[1:-4])
    assert plotted.count("●") == 2 and plotted.count("▲") == 2  # two temperatures per run
    expected = temperature_sweep(other_home, ["short", "long"], [0.8, 1.2], "bleu4", "self_bleu4",
                                 EvaluationSettings(samples=20))
    assert shown["points"] == expected


# --- bad input ---------------------------------------------------------------------------------


BAD_INPUT = {
    "no run ticked": ((), {}, "evaluate", "tick one or more runs"),
    "runs of two corpora": (("short", "sums"), {}, "sweep", "were trained on different corpora"),
    "samples not a number": (("short",), {"samples": "many"}, "evaluate", "samples must be a whole number"),
    "too few samples": (("short",), {"samples": "1"}, "evaluate", "--samples must be at least 2"),
    "temperature not a number": (("short",), {"temperature": "warm"}, "evaluate", "temperature must be a number"),
    "temperature zero": (("short",), {"temperature": "0"}, "evaluate", "--temperature"),
    "seed not a number": (("short",), {"seed": "x1"}, "evaluate", "seed must be a whole number"),
    "negative seed": (("short",), {"seed": "-3"}, "sweep", "--seed must be 0 or more"),
    "unknown metric": (("short",), {"metrics": "bleu9"}, "evaluate", "unknown metric 'bleu9'"),
    "metric of another corpus": (("short",), {"metrics": "goodness"}, "evaluate", "does not apply"),
    "temperatures not numbers": (("short",), {"temperatures": "0.8,hot"}, "sweep", "comma-separated numbers"),
    "temperatures not above 0": (("short",), {"temperatures": "0,1"}, "sweep", "above 0"),
    "samples for the sweep": (("short",), {"samples": ""}, "sweep", "samples must be a whole number"),
}


@pytest.mark.parametrize("case", BAD_INPUT)
def test_bad_input_gives_one_notification_and_the_pane_goes_on(case: str, project: Path) -> None:
    runs, fields, action, expected = BAD_INPUT[case]

    async def script(app: SeqganApp, pilot: Pilot) -> None:
        if runs:
            await tick(app, pilot, *runs)
        for name, text in fields.items():
            app.query_one(f"#evaluate-{name}", Input).value = text
        await pilot.press("e" if action == "evaluate" else "s")  # the runs list keeps the focus
        await settle(pilot)
        errors = messages(app, "error")
        assert len(errors) == 1 and expected in errors[0], errors
        assert "Traceback" not in errors[0] and "\n" not in errors[0]
        pane = app.query_one(EvaluatePane)
        assert app.is_running and not pane.busy
        assert not any(button.disabled for button in app.query(Button))  # ready for the next try
        assert not app.query_one("#scores-table", DataTable).display and not app.query_one(SweepPlot).display

    drive(project, script)
    assert cache_files(project) == []  # nothing was evaluated


# --- layout and help ---------------------------------------------------------------------------


def test_layout_fits_80_by_24_and_zoom_gives_the_results_the_width(project: Path) -> None:
    async def script(app: SeqganApp, pilot: Pilot) -> None:
        for selector in ("#evaluate-runs", "#evaluate-settings", "#evaluate-results", "#evaluate-button",
                         "#sweep-button", "#evaluate-temperatures", "#evaluate-progress"):
            region = app.query_one(selector).region
            assert region.width > 0 and region.height > 0 and region.bottom <= 23, selector
        results = app.query_one(EvaluationResults)
        narrow = results.region.width
        await pilot.press("z")
        await pilot.pause()
        assert not app.query_one("#evaluate-side").display and results.region.width == 80
        assert app.focused is results  # the hidden side cannot keep the focus
        await pilot.press("z")
        await pilot.pause()
        assert results.region.width == narrow

    drive(project, script, size=(80, 24))


def test_help_lists_the_pane_and_its_keys(project: Path) -> None:
    async def script(app: SeqganApp, pilot: Pilot) -> None:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        sections = {title: keys for title, _, keys in app.help_sections()}
        keys = dict(sections["Evaluate"])
        assert {keys[k] for k in ("e", "s", "l", "o", "v", "z", "esc")} == {
            "Evaluate", "Sweep", "Runs", "Settings", "Results", "Zoom", "Back to runs"}
        assert dict(app.help_sections()[0][2])["r"] == "Refresh"  # the app's, for every pane

    drive(project, script)


# --- the pure functions ------------------------------------------------------------------------


def test_run_prompts_align_the_columns() -> None:
    prompts = run_prompts([{"name": "a", "corpus": "folk", "method": "seqgan", "status": "finished"},
                           {"name": "longer", "corpus": "x", "method": "mle"}])
    assert prompts == [("a      folk seqgan finished", "a"), ("longer x    mle    ?", "longer")]


def test_grouped_rows_put_every_set_on_one_scale_and_occupied_trims_empty_ends() -> None:
    sets = [("real", [0.0, 0.5, 0.5, 0.0]), ("a-very-long-run-name", [0.0, 0.25, 0.75, 0.0])]
    bins, kept = occupied(["-1", "0", "+1", "+2"], sets)
    assert bins == ["0", "+1"] and kept == [("real", [0.5, 0.5]), ("a-very-long-run-name", [0.25, 0.75])]
    rows = grouped_rows(bins, kept)
    assert rows == [(" 0 real", 50.0), ("   a-very-long-r…", 25.0), ("+1 real", 50.0), ("   a-very-long-r…", 75.0)]
    assert occupied(["x"], [("real", [0.0])]) == (["x"], [("real", [0.0])])  # no notes at all: kept whole


def test_form_values_default_to_the_cli_defaults_and_are_checked() -> None:
    assert read_settings(FormValues()) == EvaluationSettings()
    base, temperatures = read_sweep(FormValues(samples="50", temperature="not used", metrics="not used"))
    assert base == EvaluationSettings(samples=50) and temperatures == [0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3]
    assert read_settings(FormValues(metrics=" bleu , music ")).metrics == ("bleu", "music")


def test_step_progress_counts_finished_steps(recorder) -> None:
    steps = StepProgress(recorder, 2)
    steps.start("evaluating a")
    steps.start("evaluating b")
    assert recorder.calls == [("begin", "evaluating", 2), ("note", "evaluating a (1/2)"), ("advance", 1),
                              ("note", "evaluating b (2/2)")]


def test_a_tune_run_beside_a_window_run_shows_the_form_metrics_with_a_real_column_per_unit(home: Path) -> None:
    """The pane's form rows are the CLI's, with the real windows' and the real tunes' columns."""
    from seqgan_music.config import apply_overrides, preset
    from seqgan_music.training.launch import start_run
    from training_helpers import TINY

    config = apply_overrides(preset("quick"), [*TINY, "mle.epochs=1", "mle.batch_size=4", "data.unit=tune"])
    assert start_run(home, MUSIC, config, "whole").run() == "finished"
    result = CliRunner().invoke(cli_app, ["evaluate", "long", "whole", "--samples", "20", "--metrics", "bleu,form",
                                          "--home", str(home)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    shown: dict[str, object] = {}

    async def script(app: SeqganApp, pilot: Pilot) -> None:
        await tick(app, pilot, "long", "whole")
        await fill(app, pilot, samples="20", metrics="bleu,form")
        await pilot.press("enter")
        await settle(pilot)
        assert not messages(app, "error"), messages(app, "error")
        table = app.query_one("#scores-table", DataTable)
        shown["columns"] = [str(column.label) for column in table.ordered_columns]
        shown["rows"] = table_rows(app)

    drive(home, script)
    assert shown["columns"] == ["metric", "long", "whole", "real (valid)", "real (valid, tunes)",
                                "p whole vs long\nWelch / perm."]
    rows = {row[0]: row for row in shown["rows"]}
    assert {"bar repeats, played", "phrase repeats", "ends on the tonic", "length (bars)"} <= set(rows)
    length = rows["length (bars)"]
    assert float(length[4]) >= 8 > float(length[3]) and length[5] == ""  # whole tunes, 4-bar windows; no p
    assert [" ".join(" ".join(row).split()) for row in shown["rows"]] == cli_rows(result.output)
