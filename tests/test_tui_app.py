"""The whole terminal app: its four panes as tabs, focus, help, the 80x24 layout, and SVG snapshots
of every screen (pytest-textual-snapshot; `pytest --snapshot-update` accepts new ones after a look).

The project holds only files the tests write with fixed contents (a toy-grammar corpus, a finished
run's records); the snapshot tests copy it to a fixed path, one test at a time, so the screens are the
same on every machine.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from pathlib import Path

import pytest
from textual import events
from textual.binding import Binding
from textual.keys import key_to_character
from textual.pilot import Pilot
from textual.widgets import Footer, Input, Select, TabbedContent

from seqgan_music.config import config_to_toml, preset
from seqgan_music.corpora.encodings import music_encoding
from seqgan_music.corpora.grammar import build_grammar_corpus
from seqgan_music.corpora.melody import Key, Melody, Note, bar_lines
from seqgan_music.corpora.music import build_music_corpus
from seqgan_music.corpora.split import SplitPlan
from seqgan_music.training.runs import CONFIG_FILE, METRICS_FILE, RUN_FILE, STATE_FILE
from seqgan_music.tui import app as app_module
from seqgan_music.tui.app import HelpScreen, SeqganApp, create_app
from seqgan_music.tui.compose import ComposePane
from seqgan_music.tui.corpora import CorporaPane
from seqgan_music.tui.train import TrainPane
from seqgan_music.tui.project import ProjectWatch
from seqgan_music.tui.widgets import FitTable, fit_widths
import tui_helpers
from tui_helpers import screen_lines, wait_until

SNAPSHOT_HOME = Path("/tmp/seqgan-music-snapshot-project")  # the project folder the stored snapshots show
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


def music_corpus(name: str):
    """A small grid16 corpus of stepwise tunes (enough for the Compose pane to offer its runs)."""
    tunes = [Melody([Note(60 + (i + j) % 7, j, j + 1.0) for j in range(32)], bar_lines([(0.0, "4/4")], 32.0), "4/4",
                    Key(0), title=f"tune {i}", source=f"t{i}.mid") for i in range(30)]
    return build_music_corpus(name, tunes, music_encoding("grid16"), SplitPlan(), {"kind": "midi"})


def write_music_run(home: Path, name: str, corpus: str) -> None:
    """A finished run with a checkpoint file, as the Compose pane's model picker looks for it."""
    write_finished_run(home, name, corpus)
    (home / "checkpoints" / name / STATE_FILE).write_bytes(b"")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A toy-grammar corpus and one finished run, with fixed contents, in this process's own temporary folder
    (so that parallel workers and concurrent test sessions never share it)."""
    home = tmp_path_factory.mktemp("project")
    corpus = build_grammar_corpus("grammar15", 15, count=200)
    corpus.manifest.update(built="2026-11-23T12:00:00+00:00", build_seconds=0.01)
    corpus.save(home)
    write_finished_run(home, "grammar-seqgan", "grammar15")
    return home


@pytest.fixture
def snapshot_project(project: Path):
    """The project copied to SNAPSHOT_HOME, the path the stored snapshots show, under an exclusive lock
    beside it: another worker or test session waits rather than replacing or removing it mid-snapshot."""
    with open(SNAPSHOT_HOME.with_name(SNAPSHOT_HOME.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        shutil.rmtree(SNAPSHOT_HOME, ignore_errors=True)
        shutil.copytree(project, SNAPSHOT_HOME)
        try:
            yield SNAPSHOT_HOME
        finally:
            shutil.rmtree(SNAPSHOT_HOME, ignore_errors=True)


def drive(home: Path, test, size: tuple[int, int] = (80, 24)) -> None:
    """Run the whole app headless at `size`, settled, and play `test(pilot, app)` against it."""
    tui_helpers.drive(home, lambda app, pilot: test(pilot, app), size)


def pane_focused(app: SeqganApp) -> bool:
    """The shown pane's main widget (its FOCUS) holds the focus, as it does once a tab switch has settled."""
    pane = active_pane(app)
    pane_class = next(p for p in app.panes if p.PANE_ID == pane)
    return app.focused is app.query_one(f"#{pane} {pane_class.FOCUS}")


def footer_follows_focus(app: SeqganApp) -> bool:
    """The footer offers the keys of the focused widget and its parents (it redraws a moment after the focus moves)."""
    shown = {key.action for key in app.query_one(Footer).query("FooterKey")}
    return shown == {binding.action for _, binding, _, _ in app.screen.active_bindings.values() if binding.show}


async def show(pilot: Pilot, pane: str) -> None:
    """Open a pane's tab and wait for its workers, its main widget's focus and the footer's keys. Only once
    the messages in flight are handled: a focus event of the first tab still on its way would switch back to it."""
    await tui_helpers.settle(pilot)
    pilot.app.query_one("#panes", TabbedContent).active = f"tab-{pane}"
    await wait_until(pilot, lambda: active_pane(pilot.app) == pane and pane_focused(pilot.app)
                     and footer_follows_focus(pilot.app))
    await tui_helpers.settle(pilot)


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


def active_pane(app: SeqganApp) -> str:
    return app.query_one("#panes", TabbedContent).active.removeprefix("tab-")


def test_number_keys_and_ctrl_page_keys_switch_tabs_from_anywhere(project: Path) -> None:
    async def test(pilot: Pilot, app: SeqganApp) -> None:
        async def press(key: str, pane: str) -> None:
            await pilot.press(key)
            await wait_until(pilot, lambda: active_pane(app) == pane and pane_focused(app))

        await wait_until(pilot, lambda: pane_focused(app))  # the start's focus is given
        await press("2", "train")
        await press("3", "compose")  # its focus is the model drop-down: digits still switch tabs
        await press("4", "evaluate")
        await press("1", "corpora")
        app.query_one("#build-name", Input).focus()  # deep in a form: no tab key press reaches the tab bar
        await pilot.pause()
        await press("ctrl+pagedown", "train")
        await press("ctrl+pageup", "corpora")
        await press("ctrl+pageup", "evaluate")  # round from the first to the last
        await press("ctrl+pagedown", "corpora")
        keys = {description: key for key, description in app.help_sections()[0][2]}
        assert keys["Show tab 1-4"] == "1 / 2 / 3 / 4"
        assert keys["Previous tab"] == "^pgup" and keys["Next tab"] == "^pgdn"

    drive(project, test)


# Each pane's text field and drop-down; typing into them must never fire a one-key binding.
FIELDS = {"corpora": ("#build-name", "#build-source"), "train": ("#train-name", "#train-method"),
          "compose": ("#compose-key", "#compose-model"), "evaluate": ("#evaluate-metrics", "#evaluate-references")}


def typed_keys(app: SeqganApp) -> list[str]:
    """Every printable key that the app or a pane binds (a widget's own keys, such as a table's, aside)."""
    nodes = [app, *(app.query_one(f"#{pane.PANE_ID}") for pane in app.panes)]
    keys = [binding.key for node in nodes for binding in Binding.make_bindings(type(node).BINDINGS)]
    return list(dict.fromkeys(key for key in keys if (key_to_character(key) or "\t").isprintable() and key != "space"))


async def type_in_one_burst(pilot: Pilot, keys: list[str]) -> None:
    """Post `keys` to the app at once, as fast typing reaches it, and wait until it has handled them: each
    still goes to the focused widget in order, but without pilot.press's two waits for the app to go idle
    after every key (40 ms a key at the least)."""
    for key in keys:
        event = events.Key(key, key_to_character(key))
        event.set_sender(pilot.app)
        pilot.app.post_message(event)
    await tui_helpers.settle(pilot)


def test_typing_into_a_field_or_a_drop_down_never_fires_a_one_key_binding(project: Path) -> None:
    async def test(pilot: Pilot, app: SeqganApp) -> None:
        keys = typed_keys(app)
        assert {"q", "t", "n", "g", "e", "z", "1", "4", "question_mark", "left_square_bracket"} <= set(keys)
        for pane, (text, choice) in FIELDS.items():
            await show(pilot, pane)
            field = app.query_one(text, Input)
            field.value = ""
            field.focus()
            await type_in_one_burst(pilot, keys)
            assert field.value == "".join(key_to_character(key) for key in keys), pane
            assert app.focused is field and active_pane(app) == pane and app.is_running
            select = app.query_one(choice, Select)
            value = select.value
            select.focus()
            await type_in_one_burst(pilot, [key for key in keys if key_to_character(key).isalpha()])
            assert app.focused is select and not select.expanded and select.value == value, pane
            assert active_pane(app) == pane and app.is_running and not isinstance(app.screen, HelpScreen)

    drive(project, test)


# --- every tab follows the project folder ---------------------------------------------------------


def train_corpora(app: SeqganApp) -> list[str]:
    return [str(value) for _, value in app.query_one("#train-corpus", Select)._options if value is not Select.NULL]


def model_runs(app: SeqganApp) -> list[str]:
    return [str(value) for _, value in app.query_one("#compose-model", Select)._options][1:]


def evaluate_runs(app: SeqganApp) -> list[str]:
    runs = app.query_one("#evaluate-runs")
    return [str(runs.get_option_at_index(i).value) for i in range(runs.option_count)]


def table_keys(app: SeqganApp, selector: str) -> list[str]:
    return list(app.query_one(selector, FitTable).fit_rows)


def test_what_the_app_builds_or_trains_reaches_every_tab_at_once(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_module, "WATCH_SECONDS", 3600.0)  # no look at the folder: only the app's messages

    async def test(pilot: Pilot, app: SeqganApp) -> None:
        assert train_corpora(app) == [] and model_runs(app) == [] and evaluate_runs(app) == []
        music_corpus("tunes").save(tmp_path)
        corpora = app.query_one(CorporaPane)
        corpora.post_message(CorporaPane.BuildDone("tunes", 0, 30))  # what a build in the Corpora tab posts
        await wait_until(pilot, lambda: train_corpora(app) == ["tunes"], seconds=5)
        assert app.query_one("#train-corpus", Select).value == "tunes" and table_keys(app, "#corpora-table") == ["tunes"]
        write_music_run(tmp_path, "tunes-run", "tunes")
        app.query_one(TrainPane).post_message(TrainPane.Ended("tunes-run", "finished"))  # a run ended here
        await wait_until(pilot, lambda: evaluate_runs(app) == ["tunes-run"] and model_runs(app) == ["tunes-run"],
                         seconds=5)
        assert table_keys(app, "#runs-table") == ["tunes-run"]

    drive(tmp_path, test)


def test_changes_made_elsewhere_reach_every_tab_within_seconds(tmp_path: Path) -> None:
    async def test(pilot: Pilot, app: SeqganApp) -> None:
        music_corpus("tunes").save(tmp_path)  # as `seqgan-music corpus build` and `train` in another terminal
        write_music_run(tmp_path, "elsewhere", "tunes")
        await wait_until(pilot, lambda: table_keys(app, "#corpora-table") == ["tunes"] and train_corpora(app) == ["tunes"]
                         and table_keys(app, "#runs-table") == ["elsewhere"] and model_runs(app) == ["elsewhere"]
                         and evaluate_runs(app) == ["elsewhere"], seconds=15)
        info_file = tmp_path / "checkpoints" / "elsewhere" / RUN_FILE
        info_file.write_text(info_file.read_text().replace('"finished"', '"interrupted"'))
        table = app.query_one("#runs-table", FitTable)
        await wait_until(pilot, lambda: table.fit_rows["elsewhere"][1] == "interrupted", seconds=15)
        assert "interrupted" in str(app.query_one("#evaluate-runs").get_option_at_index(0).prompt)

    drive(tmp_path, test)


def test_the_refresh_key_is_in_every_footer_and_rereads_the_folder(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_module, "WATCH_SECONDS", 3600.0)

    async def test(pilot: Pilot, app: SeqganApp) -> None:
        for pane in PANE_IDS:
            await show(pilot, pane)
            assert "r Refresh" in screen_lines(app)[-1], pane
        music_corpus("tunes").save(tmp_path)
        await pilot.press("r")
        await wait_until(pilot, lambda: train_corpora(app) == ["tunes"], seconds=5)
        assert table_keys(app, "#corpora-table") == ["tunes"]
        assert any("reread 1 corpora and 0 runs" in m for m in tui_helpers.messages(app))

    drive(tmp_path, test)


# --- 80x24 ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def crowded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with large numbers and long names: a corpus of 5000 tunes, runs named as the app names them."""
    home = tmp_path_factory.mktemp("crowded")
    corpus = build_grammar_corpus("nottingham-with-a-long-name", 15, count=200)
    corpus.manifest["counts"].update(tunes=5000, windows={"train": 40213, "valid": 5021, "test": 5030}, vocabulary=123)
    corpus.manifest["skipped"] = [{"path": f"broken-{i}.mid", "reason": "no notes"} for i in range(12)]
    corpus.save(home)
    build_grammar_corpus("grammar15", 15, count=200).save(home)
    write_finished_run(home, "nottingham-with-a-long-name-seqgan-20261123-120000", "nottingham-with-a-long-name")
    write_finished_run(home, "grammar-seqgan", "grammar15")
    return home


def test_nothing_important_is_cut_at_80_by_24(crowded: Path) -> None:
    async def test(pilot: Pilot, app: SeqganApp) -> None:
        text = "\n".join(screen_lines(app))
        for number in ("5000", "40213/5021/5030", "123", "12"):
            assert f" {number} " in text, number
        assert "nottingham-with-a" in text and "grammar15" in text  # the long name shortened, not dropped

        await show(pilot, "train")
        app.query_one("#set-adversarial-learning-rate", Input).value = "0.001"
        await pilot.pause()
        lines = screen_lines(app)
        run_rows = [line for line in lines if "1m01s" in line]
        assert len(run_rows) == 2 and all("finished" in row and "adv 5/5" in row and "seqgan" in row for row in run_rows)
        assert any(" 0.001 " in line for line in lines) and any(" auto " in line for line in lines)

        await show(pilot, "compose")
        await default_form(pilot, app)
        for name, value in (("compose-count", "2"), ("tune-part-bars", "4"), ("compose-seed", "123456789")):
            app.query_one(f"#{name}", Input).value = value  # AABB of 4 bars: 8 notated
        await pilot.press("g")
        await tui_helpers.settle(pilot)
        tunes = app.query_one(ComposePane).tunes
        lines = screen_lines(app)
        for tune in tunes:
            row = next(line for line in lines if f" {tune.seed} " in line)
            assert f" {tune.melody.key.name} " in row and f" {tune.melody.meter} " in row and " 8 " in row

        for pane in PANE_IDS:  # the footer stays on screen with its keys, wherever the focus is
            await show(pilot, pane)
            chain = app.screen.focus_chain
            first = chain.index(app.focused)
            for step in range(1, len(chain) + 1):  # round the pane's focus chain once
                await pilot.press("tab")
                await wait_until(pilot, lambda: app.focused is chain[(first + step) % len(chain)])
                footer = app.query_one(Footer)
                assert footer.region.bottom == 24 and footer.region.height == 1 and footer.display
                await wait_until(pilot, lambda: "Help" in screen_lines(app)[-1])  # the footer follows the focus

    drive(crowded, test)


def test_quit_closes_the_app_when_nothing_runs(project: Path) -> None:
    async def test(pilot: Pilot, app: SeqganApp) -> None:
        await show(pilot, "train")
        await pilot.press("q")
        await pilot.pause()
        assert app.return_code == 0

    drive(project, test)


# --- snapshots -----------------------------------------------------------------------------------


async def default_form(pilot: Pilot, app: SeqganApp) -> None:
    """Wait until the Compose pane has read the default model and offers its form fields (whole tunes)."""
    form = app.query_one("#compose-form")
    await tui_helpers.wait_until(pilot, lambda: form.choices.whole_tunes)


def open_tab(pane: str):
    async def run_before(pilot: Pilot) -> None:
        await show(pilot, pane)
        if pane == "compose":  # the form is complete once the default model is read
            await default_form(pilot, pilot.app)

    return run_before


@pytest.mark.parametrize("pane", PANE_IDS)
def test_snapshot_of_each_pane_at_80_by_24(snapshot_project: Path, snap_compare, pane: str) -> None:
    assert snap_compare(create_app(snapshot_project), terminal_size=(80, 24), run_before=open_tab(pane))


def test_snapshot_of_the_train_pane_at_120_by_40(snapshot_project: Path, snap_compare) -> None:
    assert snap_compare(create_app(snapshot_project), terminal_size=(120, 40), run_before=open_tab("train"))


def test_snapshot_of_the_help_screen(snapshot_project: Path, snap_compare) -> None:
    assert snap_compare(create_app(snapshot_project), terminal_size=(80, 24), press=["question_mark"])


# --- the pure parts ------------------------------------------------------------------------------


def test_fit_widths_shorten_the_widest_labels_first_and_never_a_number() -> None:
    assert fit_widths([10, 4, 15], [True, False, False], room=40) == [10, 4, 15]  # room enough: as they are
    assert fit_widths([10, 4, 15], [True, False, False], room=25) == [6, 4, 15]
    assert fit_widths([20, 8, 5, 9], [True, True, False, False], room=30) == [8, 8, 5, 9]
    assert fit_widths([20, 8, 5, 9], [True, True, False, False], room=10) == [4, 4, 5, 9]  # the least, past the room
    assert fit_widths([3, 5], [True, False], room=4) == [3, 5]  # never wider than its natural width


def test_the_watch_reports_corpora_and_runs_that_come_change_or_go(tmp_path: Path) -> None:
    watch = ProjectWatch(tmp_path)
    assert watch.changes() is None  # no folders yet: nothing to see
    build_grammar_corpus("grammar15", 15, count=200).save(tmp_path)
    change = watch.changes()
    assert change is not None and change.corpora and not change.runs
    assert watch.changes() is None
    write_finished_run(tmp_path, "a-run", "grammar15")
    change = watch.changes()
    assert change is not None and change.runs and not change.corpora
    info = tmp_path / "checkpoints" / "a-run" / RUN_FILE
    info.write_text(info.read_text())  # rewritten (a checkpoint): a new mtime
    os.utime(info, ns=(info.stat().st_atime_ns, info.stat().st_mtime_ns + 1_000_000))
    assert watch.changes().runs
    (tmp_path / "checkpoints" / "a-run" / METRICS_FILE).write_text("{}\n")  # metrics alone: not looked at
    assert watch.changes() is None
    shutil.rmtree(tmp_path / "checkpoints" / "a-run")
    assert watch.changes().runs
