"""The whole terminal app: its four panes as tabs, focus, help, the 80x24 layout, and SVG snapshots
of every screen (pytest-textual-snapshot; `pytest --snapshot-update` accepts new ones after a look).

The snapshot project lives at a fixed path and holds only files the tests write with fixed
contents (a toy-grammar corpus, a finished run's records), so the screens are the same on every
machine.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import TabbedContent

from seqgan_music.config import config_to_toml, preset
from seqgan_music.corpora.grammar import build_grammar_corpus
from seqgan_music.training.runs import CONFIG_FILE, METRICS_FILE, RUN_FILE
from seqgan_music.tui.app import HelpScreen, SeqganApp, create_app
import tui_helpers

SNAPSHOT_HOME = Path("/tmp/seqgan-music-snapshot-project")
PANE_IDS = ("corpora", "train", "compose", "evaluate")


def write_finished_run(home: Path, name: str, corpus: str) -> None:
    """A finished quick-preset SeqGAN run's records, written as the trainer writes them."""
    folder = home / "checkpoints" / name
    folder.mkdir(parents=True)
    (folder / CONFIG_FILE).write_text(config_to_toml(preset("quick")))
    records = [{"phase": "mle", "step": e, "g_loss": round(1.6 - 0.05 * e, 4), "nll_valid": round(1.55 - 0.04 * e, 4),
                "elapsed": 2.0 * e} for e in range(1, 16)]
    records[-1]["nll_test"] = 0.95
    records += [{"phase": "pretrain_d", "step": r, "d_loss": 0.6 - 0.1 * r, "d_acc_real": 0.7 + 0.1 * r,
                 "d_acc_fake": 0.6 + 0.1 * r, "elapsed": 30.0 + 3 * r} for r in (1, 2)]
    records += [{"phase": "adversarial", "step": r, "g_loss": round(-0.2 + 0.03 * r, 4), "mean_reward": 0.3 + 0.04 * r,
                 "d_loss": 0.45 + 0.01 * r, "d_acc_real": 0.8, "d_acc_fake": 0.75 - 0.02 * r,
                 "nll_test": round(0.95 + 0.01 * r, 4), "elapsed": 36.0 + 5 * r} for r in range(1, 6)]
    (folder / METRICS_FILE).write_text("".join(json.dumps(r) + "\n" for r in records))
    info = {"name": name, "corpus": corpus, "corpus_hash": "0" * 64, "method": "seqgan", "preset": "quick", "seed": 0,
            "device": "cpu", "precision": "float32", "status": "finished", "created": "2026-11-23T12:00:00+00:00",
            "updated": "2026-11-23T12:01:01+00:00", "elapsed": 61.0,
            "progress": {"phase": "adversarial", "phase_index": 2, "unit": 5, "units": 5,
                         "phases": ["mle", "pretrain_d", "adversarial"]}}
    (folder / RUN_FILE).write_text(json.dumps(info, indent=2))


@pytest.fixture(scope="module")
def project() -> Path:
    """The snapshot project: a toy-grammar corpus and one finished run, with fixed contents."""
    shutil.rmtree(SNAPSHOT_HOME, ignore_errors=True)
    corpus = build_grammar_corpus("grammar15", 15, count=200)
    corpus.manifest.update(built="2026-11-23T12:00:00+00:00", build_seconds=0.01)
    corpus.save(SNAPSHOT_HOME)
    write_finished_run(SNAPSHOT_HOME, "grammar-seqgan", "grammar15")
    yield SNAPSHOT_HOME
    shutil.rmtree(SNAPSHOT_HOME, ignore_errors=True)


def drive(home: Path, test, size: tuple[int, int] = (80, 24)) -> None:
    """Run the whole app headless at `size`, settled, and play `test(pilot, app)` against it."""
    tui_helpers.drive(home, lambda app, pilot: test(pilot, app), size)


async def show(pilot: Pilot, pane: str) -> None:
    """Open a pane's tab and wait for its workers and for the footer to show its keys (after the
    start's own focus has settled: a late focus event in the first tab would switch back to it)."""
    await pilot.pause(0.1)
    pilot.app.query_one("#panes", TabbedContent).active = f"tab-{pane}"
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause(0.3)


# --- the shell ---------------------------------------------------------------------------------


def test_every_pane_is_a_tab_that_takes_the_focus_when_shown(project: Path) -> None:
    async def test(pilot: Pilot, app: SeqganApp) -> None:
        assert [p.PANE_ID for p in app.panes] == list(PANE_IDS)
        assert app.focused is app.query_one("#corpora-table")
        for pane in app.panes[1:] + app.panes[:1]:
            await show(pilot, pane.PANE_ID)
            focused = app.focused
            assert focused is not None and focused is app.query_one(f"#{pane.PANE_ID}").query_one(pane.FOCUS)

    drive(project, test)


def test_help_lists_every_pane_with_its_keys(project: Path) -> None:
    async def test(pilot: Pilot, app: SeqganApp) -> None:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        titles = [title for title, _, _ in app.screen.sections]
        assert titles[1:] == ["Corpora", "Train", "Compose", "Evaluate"]
        keys = {title: dict((action, key) for key, action in rows) for title, _, rows in app.screen.sections}
        assert keys["Train"]["Stop & save"] == "x" and keys["Train"]["Resume"] == "u"
        assert keys["Compose"]["Generate"] == "g" and keys["Evaluate"]["Evaluate"] == "e"
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)

    drive(project, test)


@pytest.mark.parametrize("size", [(80, 24), (160, 50)])
def test_every_pane_lays_out_inside_the_screen(project: Path, size: tuple[int, int]) -> None:
    main_widgets = {"corpora": ("#corpora-table", "#corpus-details", "#build-form"),
                    "train": ("#runs-table", "#new-run", "#live-view"),
                    "compose": ("#compose-model",),
                    "evaluate": ("#evaluate-runs",)}

    async def test(pilot: Pilot, app: SeqganApp) -> None:
        for pane, selectors in main_widgets.items():
            await show(pilot, pane)
            for selector in selectors:
                region = app.query_one(selector).region
                assert region.width > 0 and region.height > 0, (pane, selector)
                assert region.right <= size[0] and region.bottom <= size[1] - 1, (pane, selector, region)

    drive(project, test, size)


def test_quit_closes_the_app_when_nothing_runs(project: Path) -> None:
    async def test(pilot: Pilot, app: SeqganApp) -> None:
        await show(pilot, "train")
        await pilot.press("q")
        await pilot.pause()
        assert app.return_code == 0

    drive(project, test)


# --- snapshots -----------------------------------------------------------------------------------


def open_tab(pane: str):
    async def run_before(pilot: Pilot) -> None:
        await show(pilot, pane)

    return run_before


@pytest.mark.parametrize("pane", PANE_IDS)
def test_snapshot_of_each_pane_at_80_by_24(project: Path, snap_compare, pane: str) -> None:
    assert snap_compare(create_app(project), terminal_size=(80, 24), run_before=open_tab(pane))


def test_snapshot_of_the_train_pane_at_120_by_40(project: Path, snap_compare) -> None:
    assert snap_compare(create_app(project), terminal_size=(120, 40), run_before=open_tab("train"))


def test_snapshot_of_the_help_screen(project: Path, snap_compare) -> None:
    assert snap_compare(create_app(project), terminal_size=(80, 24), press=["question_mark"])
