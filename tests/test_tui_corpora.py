"""The TUI shell and its Corpora pane, driven headless with Textual's Pilot.

pytest-asyncio is not a dependency, so each test runs its coroutine with `asyncio.run`.
"""

from __future__ import annotations

import asyncio
import functools
import io
import re
import threading
from pathlib import Path

import pytest
from rich.console import Console

from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Select, Static

from seqgan_music.corpora import building as building_module
from seqgan_music.corpora.building import build_midi_corpus
from seqgan_music.corpora.corpus import load_corpus
from seqgan_music.corpora.encodings import music_encoding, pitch_token
from seqgan_music.corpora.grammar import build_grammar_corpus
from seqgan_music.corpora.melody import Note
from seqgan_music.corpora.midi import read_midi_folder
from seqgan_music.corpora.music import build_music_corpus
from seqgan_music.corpora.split import SplitPlan
from seqgan_music.progress import SilentReporter
from seqgan_music.tui.app import HelpScreen, SeqganApp, create_app
from seqgan_music.tui.corpora import BuildRequest, CorporaPane, CorpusDetails, build_corpus
from seqgan_music.tui.widgets import (
    ONSET,
    BarChart,
    PianoRoll,
    TaskProgress,
    bar_chart_lines,
    histogram_rows,
    piano_roll,
)

import tui_helpers
from tui_helpers import messages, settle, wait_until

SIZE = (100, 34)
MUSIC, GRAMMAR = "notts", "grammar15"


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def midi_folder(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """Five Nottingham tunes (symlinked from ../shared, never copied) and one file that is not MIDI."""
    nottingham = shared_data / "nottingham" / "MIDI"
    files = sorted(nottingham.glob("*.mid"))[:5]
    if len(files) < 5:
        pytest.skip(f"Nottingham MIDI files not found in {nottingham}")
    folder = tmp_path_factory.mktemp("midi")
    for file in files:
        (folder / file.name).symlink_to(file)
    (folder / "broken.mid").write_bytes(b"this is not a MIDI file")
    return folder


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, midi_folder: Path) -> Path:
    """A project with a grammar corpus and a small music corpus (read-only for the tests)."""
    root = tmp_path_factory.mktemp("home")
    build_grammar_corpus(GRAMMAR, 15, count=200).save(root)
    tunes = read_midi_folder(midi_folder)
    build_music_corpus(MUSIC, tunes, music_encoding("grid16"), SplitPlan(), {"kind": "midi"}).save(root)
    return root


@pytest.fixture
def fresh_home(tmp_path: Path) -> Path:
    """A project of its own (builds write into it) holding only the grammar corpus."""
    root = tmp_path / "project"
    build_grammar_corpus(GRAMMAR, 15, count=200).save(root)
    return root


# --- helpers -----------------------------------------------------------------------------------


drive = functools.partial(tui_helpers.drive, size=SIZE, panes=(CorporaPane,))






async def select_corpus(app: SeqganApp, pilot: Pilot, name: str) -> None:
    """Move the table cursor to `name` with the arrow keys."""
    table = app.query_one("#corpora-table", DataTable)
    table.focus()
    target = table.get_row_index(name)
    for _ in range(abs(target - table.cursor_row)):
        await pilot.press("down" if target > table.cursor_row else "up")
    assert table.cursor_row == target
    await settle(pilot)




def text_of(widget: Static) -> str:
    """The plain text of a Static's content, whatever renderable it holds."""
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(widget.content, markup=False, highlight=False)
    return console.export_text()


def listing(home: Path) -> list[str]:
    return sorted(p.name for p in (home / "corpora").iterdir())


# --- the table and the details -----------------------------------------------------------------


def test_table_lists_both_corpora_with_their_counts(home: Path) -> None:
    async def script(app: SeqganApp, pilot: Pilot) -> None:
        table = app.query_one("#corpora-table", DataTable)
        assert table.row_count == 2
        music = [str(c) for c in table.get_row(MUSIC)]
        grammar = [str(c) for c in table.get_row(GRAMMAR)]
        windows = load_corpus(home, MUSIC).manifest["counts"]["windows"]
        assert music[:4] == [MUSIC, "midi", "grid16/64", "5"]
        assert music[4] == f"{windows['train']}/{windows['valid']}/{windows['test']}"
        assert music[6] == "1"  # broken.mid
        assert grammar[:3] == [GRAMMAR, "grammar", "symbols/15"]
        assert sum(int(n) for n in grammar[4].split("/")) == 200
        assert app.focused is table  # keyboard-first: the table has the focus at start

    drive(home, script)


def test_music_corpus_shows_pitch_classes_lengths_and_piano_rolls(home: Path) -> None:
    async def script(app: SeqganApp, pilot: Pilot) -> None:
        await select_corpus(app, pilot, MUSIC)
        details = app.query_one(CorpusDetails)
        assert details.border_title == f"corpus {MUSIC}"
        assert "pitch range" in text_of(app.query_one("#details-facts", Static))
        pitch = app.query_one("#pitch-classes", BarChart)
        assert pitch.display and [label for label, _ in pitch.rows][:3] == ["C", "C#", "D"]
        lines = pitch.plain_lines()
        assert len(lines) == 12 and lines[0].startswith("C ") and "%" in lines[0] and "█" in "".join(lines)
        assert app.query_one("#tune-lengths", BarChart).display
        assert sum(v for _, v in app.query_one("#tune-lengths", BarChart).rows) == 5
        rolls = [r for r in app.query(PianoRoll) if r.display]
        assert 1 <= len(rolls) <= 3 and all("window 1 of" in str(r.border_title) for r in rolls)
        for roll in rolls:
            rows = roll.plain_lines()
            high, low = max(n.pitch for n in roll.notes), min(n.pitch for n in roll.notes)
            assert len(rows) == high - low + 1 and ONSET in "".join(rows)
            assert rows[0].split()[0] == pitch_token(high) and rows[-1].split()[0] == pitch_token(low)
            assert roll.region.width > 0  # laid out on screen
        assert not app.query_one("#token-frequencies", BarChart).display
        skipped = app.query_one("#skipped", Static)
        assert skipped.display and "broken.mid: not a MIDI file" in text_of(skipped)

    drive(home, script)


def test_grammar_corpus_shows_token_frequencies_and_decoded_sequences(home: Path) -> None:
    async def script(app: SeqganApp, pilot: Pilot) -> None:
        await select_corpus(app, pilot, MUSIC)
        await select_corpus(app, pilot, GRAMMAR)
        assert app.query_one(CorpusDetails).border_title == f"corpus {GRAMMAR}"
        sequences = text_of(app.query_one("#sequences", Static)).splitlines()
        assert len(sequences) == 5
        assert all(re.fullmatch(r"x( [-+*/] x){7}", line) for line in sequences), sequences
        frequencies = app.query_one("#token-frequencies", BarChart)
        assert frequencies.display and frequencies.rows[0][0] == "x"
        assert not app.query_one("#pitch-classes", BarChart).display
        assert not any(r.display for r in app.query(PianoRoll))
        assert not app.query_one("#skipped", Static).display

    drive(home, script)


def test_refresh_picks_up_a_corpus_built_elsewhere(fresh_home: Path) -> None:
    async def script(app: SeqganApp, pilot: Pilot) -> None:
        assert app.query_one("#corpora-table", DataTable).row_count == 1
        build_grammar_corpus("grammar3", 3, count=50).save(fresh_home)
        await pilot.press("r")
        await settle(pilot)
        assert app.query_one("#corpora-table", DataTable).row_count == 2

    drive(fresh_home, script)


def test_a_damaged_corpus_gives_an_error_notification(fresh_home: Path) -> None:
    damaged = fresh_home / "corpora" / "damaged"
    damaged.mkdir()
    (damaged / "manifest.json").write_text('{"name": "damaged"}')

    async def script(app: SeqganApp, pilot: Pilot) -> None:
        await select_corpus(app, pilot, "damaged")
        assert any("damaged/manifest.json is damaged" in m for m in messages(app, "error")), messages(app, "error")
        assert "cannot show damaged" in text_of(app.query_one("#details-facts", Static))
        await select_corpus(app, pilot, GRAMMAR)  # and the pane goes on working
        assert app.query_one(CorpusDetails).border_title == f"corpus {GRAMMAR}"

    drive(fresh_home, script)


# --- building ----------------------------------------------------------------------------------


def held_after_first_file(release: threading.Event):
    """The parallel reader's results, held after the first file until `release` is set."""
    original = building_module.map_files

    def held(*args, **kwargs):
        for index, result in enumerate(original(*args, **kwargs)):
            if index == 1:
                assert release.wait(30), "the test never released the build"
            yield result

    return held


def test_build_from_a_midi_folder_runs_in_a_worker(fresh_home: Path, midi_folder: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    monkeypatch.setattr(building_module, "map_files", held_after_first_file(release))

    async def script(app: SeqganApp, pilot: Pilot) -> None:
        await pilot.press("b")  # focuses the folder field
        assert app.focused is app.query_one("#build-folder", Input)
        await pilot.press(*str(midi_folder))
        await pilot.click("#build-name")
        await pilot.press(*"my-tunes")
        await pilot.click("#build-button")
        progress = app.query_one(TaskProgress)
        try:
            await wait_until(pilot, lambda: progress.status.startswith("Reading MIDI files 1/6"))
            # The build is still running, and the interface answers keys meanwhile.
            assert any(w.is_running for w in app.workers if w.group == "build")
            table = app.query_one("#corpora-table", DataTable)
            assert app.focused is table  # the disabled Build button hands the focus to the table
            await pilot.press("b")
            assert app.focused is app.query_one("#build-folder", Input)
            await pilot.press("escape")  # leave the form
            assert app.focused is table
            await pilot.press("?")
            assert isinstance(app.screen, HelpScreen)
            await pilot.press("escape")
            assert not (fresh_home / "corpora" / "my-tunes").exists()
        finally:
            release.set()
        await wait_until(pilot, lambda: (fresh_home / "corpora" / "my-tunes" / "manifest.json").is_file())
        await settle(pilot)
        table = app.query_one("#corpora-table", DataTable)
        assert table.row_count == 2
        assert table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value == "my-tunes"
        assert app.query_one(CorpusDetails).border_title == "corpus my-tunes"
        assert "broken.mid: not a MIDI file" in text_of(app.query_one("#skipped", Static))
        assert any("built corpus my-tunes: 5 tunes" in m for m in messages(app, "warning"))
        assert not messages(app, "error")
        manifest = load_corpus(fresh_home, "my-tunes").manifest
        assert manifest["source"]["kind"] == "midi" and manifest["counts"]["tunes"] == 5
        assert manifest["encoding"]["name"] == "grid16"

    drive(fresh_home, script)


def test_a_name_taken_while_the_build_runs_is_refused_and_that_corpus_kept(fresh_home: Path, midi_folder: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The app never replaces a corpus: one built elsewhere under the same name meanwhile stays."""
    release = threading.Event()
    monkeypatch.setattr(building_module, "map_files", held_after_first_file(release))

    async def script(app: SeqganApp, pilot: Pilot) -> None:
        app.query_one("#build-folder", Input).value = str(midi_folder)
        app.query_one("#build-name", Input).value = "mine"
        await pilot.click("#build-button")
        progress = app.query_one(TaskProgress)
        try:
            await wait_until(pilot, lambda: progress.status.startswith("Reading MIDI files 1/6"))
            other = build_midi_corpus("mine", midi_folder, music_encoding("paper"), SplitPlan(), SilentReporter())
            other.save(fresh_home)  # as `seqgan-music corpus build midi ... --name mine` in another terminal
        finally:
            release.set()
        await wait_until(pilot, lambda: bool(messages(app, "error")))
        assert messages(app, "error") == [f"a corpus named 'mine' already exists in {fresh_home / 'corpora'}: "
                                          "choose another name"]
        assert not app.query_one("#build-button").disabled

    drive(fresh_home, script)
    assert load_corpus(fresh_home, "mine").manifest["encoding"]["name"] == "paper"
    assert sorted(p.name for p in (fresh_home / "corpora").iterdir() if p.name.startswith(".mine")) == []


BAD_INPUT = {
    "empty name": ("{midi}", "", "enter a name"),
    "invalid name": ("{midi}", "a/b", "invalid corpus name"),
    "taken name": ("{midi}", GRAMMAR, "already exists"),
    "empty folder field": ("", "new", "enter the folder"),
    "missing folder": ("{tmp}/nowhere", "new", "does not exist"),
    "folder without MIDI": ("{tmp}/texts", "new", "no .mid or .midi files"),
}


@pytest.mark.parametrize("case", BAD_INPUT)
def test_bad_input_is_refused_with_a_notification(case: str, fresh_home: Path, midi_folder: Path,
                                                  tmp_path: Path) -> None:
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "notes.txt").write_text("no music here")
    folder, name, expected = BAD_INPUT[case]
    before = listing(fresh_home)

    async def script(app: SeqganApp, pilot: Pilot) -> None:
        app.query_one("#build-folder", Input).value = folder.format(midi=midi_folder, tmp=tmp_path)
        await pilot.click("#build-name")
        await pilot.press(*name, "enter")
        await settle(pilot)
        errors = messages(app, "error")
        assert len(errors) == 1 and expected in errors[0], errors
        assert not app.query_one("#build-button").disabled  # ready for the next try

    drive(fresh_home, script)
    assert listing(fresh_home) == before


def test_source_and_encoding_choices_reach_the_build(fresh_home: Path, midi_folder: Path) -> None:
    async def script(app: SeqganApp, pilot: Pilot) -> None:
        source, folder = app.query_one("#build-source", Select), app.query_one("#build-folder", Input)
        source.value = "folk"
        await pilot.pause()
        assert folder.disabled  # the folk collections need no folder
        source.value = "midi"
        await pilot.pause()
        assert not folder.disabled
        app.query_one("#build-encoding", Select).value = "paper"
        app.query_one("#build-folder", Input).value = str(midi_folder)
        app.query_one("#build-name", Input).value = "paper-tunes"
        await pilot.click("#build-button")
        await wait_until(pilot, lambda: (fresh_home / "corpora" / "paper-tunes").is_dir())
        await settle(pilot)
        assert [r for r in app.query(PianoRoll) if r.display]  # paper windows draw too

    drive(fresh_home, script)
    assert load_corpus(fresh_home, "paper-tunes").manifest["encoding"]["name"] == "paper"


def test_folk_builds_call_the_folk_reader_with_the_cli_defaults(fresh_home: Path, midi_folder: Path, recorder,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The folk choice reads the CLI's default collections with its cache (parsing itself is slow)."""
    calls = {}

    def fake_folk_files(names):
        calls["collections"] = list(names)
        return []

    def fake_read(files, reporter, cache_dir, workers=None):
        calls["cache"] = cache_dir
        return read_midi_folder(midi_folder, reporter=reporter)

    monkeypatch.setattr(building_module, "folk_files", fake_folk_files)
    monkeypatch.setattr(building_module, "read_folk_files", fake_read)
    manifest = build_corpus(fresh_home, BuildRequest("folk", "", "folk", "grid16"), recorder)
    assert calls == {"collections": ["oneills1850", "ryansMammoth"], "cache": fresh_home / "corpora" / ".cache" / "folk"}
    assert manifest["source"]["kind"] == "folk" and (fresh_home / "corpora" / "folk" / "manifest.json").is_file()
    assert ("begin", "Reading MIDI files", 6) in recorder.calls


# --- the shell ---------------------------------------------------------------------------------


def test_help_screen_lists_bindings_and_closes(home: Path) -> None:
    async def script(app: SeqganApp, pilot: Pilot) -> None:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = "\n".join(text_of(s) for s in app.screen.query(Static)).lower()
        for expected in ("corpora", "refresh", "build", "back to table", "quit", "help", "f1", "next"):
            assert expected in text, expected
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("q")  # closes the help, does not quit
        assert not isinstance(app.screen, HelpScreen) and app.is_running

    drive(home, script)


def test_q_types_into_fields_and_quits_elsewhere(home: Path) -> None:
    async def script(app: SeqganApp, pilot: Pilot) -> None:
        await pilot.click("#build-name")
        await pilot.press("q")
        assert app.query_one("#build-name", Input).value == "q" and app.return_code is None
        await pilot.press("escape", "q")
        await pilot.pause()
        assert app.return_code == 0

    drive(home, script)


def test_layout_fits_80_by_24(home: Path) -> None:
    async def main() -> None:
        app = create_app(home, panes=(CorporaPane,))
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            for selector in ("#corpora-table", "#build-form", "#corpus-details", "#build-button", "#build-name"):
                region = app.query_one(selector).region
                assert region.width > 0 and region.height > 0 and region.bottom <= 23, selector

    asyncio.run(main())


# --- the drawing functions ---------------------------------------------------------------------


def test_piano_roll_labels_lowest_and_highest_pitch_and_fits_the_width() -> None:
    notes = [Note(60, 0, 1), Note(64, 1, 2), Note(67, 2, 4), Note(72, 4, 4.5)]
    grid = piano_roll(notes, width=40)
    assert len(grid.lines) == 13 and grid.beats_per_column == 0.25 and not grid.cropped
    assert grid.lines[0] == "C5 " + "·" * 16 + "█━"  # labelled, dotted as a C, onset then hold
    assert grid.lines[-1] == "C4 █━━━" + "·" * 14
    assert grid.lines[5] == "   " + " " * 8 + "█━━━━━━━" + "  "  # G4: unlabelled, two beats
    assert all(len(line) <= 40 for line in grid.lines)
    long = piano_roll([Note(60 + i % 5, i, i + 1) for i in range(200)], width=40)
    assert long.cropped and long.beats_per_column == 2.0 and all(len(line) <= 40 for line in long.lines)
    assert piano_roll([], 40).lines == ["(no notes)"]


def test_bar_chart_and_histogram_rows() -> None:
    lines = bar_chart_lines([("a", 4), ("bb", 2), ("c", 0)], width=30, percent=True)
    assert len(lines) == 3 and all(len(line) == 30 for line in lines)
    assert lines[0].count("█") == 2 * lines[1].count("█") and "66.7%" in lines[0]
    assert histogram_rows([1, 2, 2, 9], bins=3) == [("1-3", 3), ("4-6", 0), ("7-9", 1)]
    assert histogram_rows([]) == [] and bar_chart_lines([], 20) == ["(no data)"]
