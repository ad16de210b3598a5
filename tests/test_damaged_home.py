"""A damaged project home: every project file damaged every way, under every command that reads it.

A small healthy home is built once (two music corpora, `healthy` and `hurt`; a run on each, `ok`
finished and `bad` interrupted and evaluated; `bad` packed into `packed/`) and each case copies it
and damages one file of `hurt`, `bad` or `packed`. A command that needs the file fails with one red
line naming it; a command that can do without it (a cache, a log, a lock's note, a corpus about to be
rebuilt) succeeds; a listing exits 0, shows a damaged item as damaged and still lists the healthy
corpus and run; the terminal app starts on a home holding every file damaged each way and lists them
too. Never a traceback, never a bare "Aborted.". Which files each command reads is itself checked, so
that a command that starts reading another file cannot slip past the matrix.
"""

from __future__ import annotations

import asyncio
import builtins
import io
import json
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import typer.testing
from click.testing import Result
from textual.widgets import DataTable, Select, SelectionList, TabbedContent
from typer.testing import CliRunner

from seqgan_music.cli import app
from seqgan_music.tui.app import create_app
from test_cli import write_tune
from training_helpers import TINY, train
from tui_helpers import messages, settle

runner = CliRunner()
DAMAGES = ("empty", "truncated", "garbage", "wrong_shape", "non_utf8")
TEXT_SUFFIXES = (".json", ".jsonl", ".toml", ".txt", ".lock")

CORPUS_FILES = ("manifest.json", "vocab.json", "tunes.json", "tokens.npz")
RUN_FILES = ("config.toml", "run.json", "state.pt", "final.txt")  # final.txt: the run's newest samples
MODEL_FILES = ("model.json", "generator.pt")
SPARE_FILES = ("metrics.jsonl", "evaluations.json", ".lock")  # a log, a cache and a note: never needed


# --- the healthy home and its damage -------------------------------------------------------------


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """The healthy home every case copies: built once, never changed. Its MIDI source is in `midi/`."""
    home = tmp_path_factory.mktemp("pristine") / "home"
    for index in range(12):
        write_tune(home / "midi" / f"tune{index}.mid", [67 + (index + i) % 7 for i in range(64)])
    for name in ("healthy", "hurt"):
        built = invoke(home, *build(home, name))
        assert built.exit_code == 0, built.output
    train(home, "healthy", "ok", 1)
    train(home, "hurt", "bad", 1)
    assert invoke(home, "pack", "bad", "--out", str(home / "packed")).exit_code == 0
    assert invoke(home, *EVALUATE).exit_code == 0
    run_json = home / "checkpoints" / "bad" / "run.json"  # interrupted: a resume reads everything
    run_json.write_text(json.dumps({**json.loads(run_json.read_text()), "status": "interrupted"}))
    return home


@pytest.fixture(scope="module", autouse=True)
def one_command_tree():
    """Typer builds the click command tree from the app at every invoke (about 0.1 s, the most of a
    refused command's time); the matrix runs some 500 commands, so the tree is built once here."""
    built, build_tree = typer.testing._get_command(app), typer.testing._get_command
    typer.testing._get_command = lambda typer_app: built if typer_app is app else build_tree(typer_app)
    yield
    typer.testing._get_command = build_tree


@pytest.fixture
def home(pristine, tmp_path) -> Path:
    copy = tmp_path / "home"
    shutil.copytree(pristine, copy)
    return copy


def invoke(home: Path, *args: str) -> Result:
    return runner.invoke(app, [*args, "--home", str(home)])


def damage(path: Path, how: str) -> None:
    """Damage `path` in place: empty, cut in half, random bytes, valid in its format but of the wrong
    shape, or a byte that is not UTF-8 (inside a JSON string where there is one)."""
    data = path.read_bytes()
    kind = path.suffix or path.name  # `.lock` has no suffix
    text = kind in TEXT_SUFFIXES
    quoted = text and b'"' in data
    damaged = {
        "empty": lambda: b"",
        "truncated": lambda: data[: len(data) // 2],
        "garbage": lambda: random.Random(path.name).randbytes(300),
        "wrong_shape": lambda: WRONG_SHAPE[kind](data),
        "non_utf8": lambda: data.replace(b'"', b'"\xff\xfe', 1) if quoted else b"\xff\xfe" + data[2:],
    }[how]()
    path.write_bytes(damaged)


def _npz(data: bytes) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, train=np.array([0.5, 1.5]), valid=np.zeros((2, 2), np.int32))
    return buffer.getvalue()


def _torch(data: bytes) -> bytes:
    buffer = io.BytesIO()
    torch.save([1, 2, 3], buffer)
    return buffer.getvalue()


WRONG_SHAPE: dict[str, Callable[[bytes], bytes]] = {
    ".json": lambda data: b"[1, 2, 3]",
    ".jsonl": lambda data: data + b'null\n[1, 2, 3]\n{"phase": "nope", "step": "x", "g_loss": "y"}\n',
    ".toml": lambda data: b"generator = [1, 2, 3]\n",
    ".npz": _npz,
    ".pt": _torch,
    ".txt": lambda data: b"no such tokens in the vocabulary\n",
    ".lock": lambda data: b"[1, 2, 3]",
}


# --- the commands ------------------------------------------------------------------------------------

EVALUATE = ("evaluate", "bad", "--samples", "16", "--metrics", "nll-test")


def build(home: Path, corpus: str) -> tuple[str, ...]:
    return ("corpus", "build", "midi", str(home / "midi"), "--length", "34", "--name", corpus)


def commands(home: Path) -> dict[str, tuple[str, ...]]:
    out = str(home / "out")
    return {
        "corpus show": ("corpus", "show", "hurt"),
        "corpus export": ("corpus", "export", "hurt", "--n", "1", "--out", out),
        "rebuild": build(home, "hurt"),
        "train": ("train", "hurt", "--run", "fresh", "--preset", "quick", *(f"--set={s}" for s in TINY),
                  "--set=mle.epochs=1"),
        "evaluate": EVALUATE,
        "sweep": ("sweep", "bad", "--temperatures", "1.0", "--samples", "16"),
        "compose": ("compose", "--run", "bad", "--n", "1", "--format", "abc", "--out", out),
        "generate": ("generate", "bad", "--n", "1", "--out", out),
        "resume": ("train", "--resume", "bad"),
        "compose packed": ("compose", "--run", str(home / "packed"), "--n", "1", "--format", "abc", "--out", out),
        "pack": ("pack", "bad", "--out", str(home / "repacked")),
        "export": ("export", "bad", "--format", "abc", "--out", out),
        # Each experiment reads its corpus before it trains; on the healthy home `tunes` would train two
        # runs and `nottingham` refuses the grid16 corpus, so neither is in the healthy baseline.
        "experiment tunes": ("experiment", "tunes", "--corpus", "hurt", "--preset", "tunes-quick", "--samples", "8",
                             *(f"--set={s}" for s in TINY)),
        "experiment nottingham": ("experiment", "nottingham", "--corpus", "hurt", "--encoding", "grid16",
                                  *(f"--set={s}" for s in TINY)),
    }


EXPERIMENTS = ("experiment tunes", "experiment nottingham")
WITH_A_CORPUS = ("corpus show", "corpus export", "train", "evaluate", "sweep", "compose", "generate", "resume",
                 "pack", "export", *EXPERIMENTS)
WITH_A_RUN = ("evaluate", "sweep", "compose", "generate", "resume", "pack")
NEEDED_BY = {  # the commands that cannot go on without the file: one line naming it
    **{file: WITH_A_CORPUS for file in CORPUS_FILES},
    "config.toml": WITH_A_RUN,
    "run.json": (*WITH_A_RUN, "export"),
    "state.pt": WITH_A_RUN,
    "final.txt": ("export",),
    **{file: ("compose packed",) for file in MODEL_FILES},
}
DONE_WITHOUT_BY = {  # the commands that read the file but go on without it (listings read them all)
    "manifest.json": ("rebuild",),  # is the build already there? no: build it again
    "metrics.jsonl": ("resume",),  # damaged lines are left out
    "evaluations.json": ("evaluate", "sweep", "pack"),  # a damaged cache is evaluated afresh, or left out
    ".lock": ("resume",),  # the lock, not its note, says who trains
}

MAY_STILL_READ = {("final.txt", "truncated")}  # a listing cut between tokens lists fewer or shorter tunes


def file_path(home: Path, file: str) -> Path:
    if file in CORPUS_FILES:
        return home / "corpora" / "hurt" / file
    if file in MODEL_FILES:
        return home / "packed" / file
    return home / "checkpoints" / "bad" / ("samples" if file == "final.txt" else "") / file


def assert_no_crash(result: Result) -> None:
    crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
    assert not crashed, f"{result.exception!r}\n{result.output}"
    assert "Traceback" not in result.output and "Aborted" not in result.output, result.output


def assert_one_line_about(result: Result, file: str) -> None:
    assert_no_crash(result)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 1 and len(lines) == 1, result.output
    assert lines[0].startswith("error: ") and file in lines[0] and len(lines[0]) < 400, result.output


def assert_lists_healthy(home: Path, damaged: str | None = None) -> None:
    """`corpus list` and `runs` exit 0 and list the healthy corpus and run (and `damaged` as damaged)."""
    for args, healthy in ((("corpus", "list"), "healthy"), (("runs",), "ok")):
        result = invoke(home, *args)
        assert_no_crash(result)
        assert result.exit_code == 0 and healthy in result.output, result.output
    if damaged is not None:
        listing = invoke(home, *(("corpus", "list") if damaged == "hurt" else ("runs",))).output
        row = next((line for line in listing.splitlines() if line.startswith(damaged)), "")
        assert "damaged: " in row, listing


class ReadRecorder:
    """Records which project files of `hurt`, `bad` and `packed` a command opens for reading."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
        self.home, self.read = home, set()
        real_open = io.open

        def recording_open(file, mode="r", *args, **kwargs):
            if isinstance(file, (str, Path)) and not any(c in mode for c in "wax+"):
                self._note(Path(file))
            return real_open(file, mode, *args, **kwargs)

        monkeypatch.setattr(io, "open", recording_open)
        monkeypatch.setattr(builtins, "open", recording_open)

    def _note(self, path: Path) -> None:
        for file in (*CORPUS_FILES, *RUN_FILES, *MODEL_FILES, *SPARE_FILES):
            if path == file_path(self.home, file):
                self.read.add(file)


# --- the matrix ----------------------------------------------------------------------------------------


def test_every_command_works_on_the_healthy_home_and_reads_only_what_the_matrix_damages(home, monkeypatch):
    """The baseline: each command the matrix damages succeeds when nothing is damaged, and each
    project file it reads is damaged under it by the matrix (NEEDED_BY or DONE_WITHOUT_BY)."""
    assert_lists_healthy(home)
    for name, args in commands(home).items():
        if name in EXPERIMENTS:
            continue
        recorder = ReadRecorder(monkeypatch, home)
        result = invoke(home, *args)
        monkeypatch.undo()
        assert result.exit_code == 0, f"{name}: {result.output}"
        unchecked = {file for file in recorder.read
                     if name not in NEEDED_BY.get(file, ()) + DONE_WITHOUT_BY.get(file, ())}
        assert not unchecked, f"{name} reads {sorted(unchecked)}, which the matrix never damages under it"


@pytest.mark.parametrize("how", DAMAGES)
@pytest.mark.parametrize("file", [*CORPUS_FILES, *RUN_FILES, *MODEL_FILES])
def test_a_damaged_file_gives_one_line_in_each_command_that_needs_it(home, file, how):
    damage(file_path(home, file), how)
    listed_as_damaged = {"manifest.json": "hurt", "run.json": "bad"}.get(file)
    assert_lists_healthy(home, listed_as_damaged)
    for name in NEEDED_BY[file]:
        result = invoke(home, *commands(home)[name])
        if (file, how) in MAY_STILL_READ and result.exit_code == 0:
            assert_no_crash(result)
        else:
            assert_one_line_about(result, file)
    assert sorted(p.name for p in (home / "checkpoints").iterdir()) == ["bad", "ok"]  # a refused start leaves no run


@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_manifest_is_rebuilt_by_the_next_build_of_its_corpus(home, how):
    damage(file_path(home, "manifest.json"), how)
    rebuilt = invoke(home, *commands(home)["rebuild"])
    assert_no_crash(rebuilt)
    assert rebuilt.exit_code == 0 and "built corpus hurt" in rebuilt.output, rebuilt.output
    assert invoke(home, "corpus", "show", "hurt").exit_code == 0


@pytest.mark.parametrize("how", DAMAGES)
def test_damaged_metrics_lines_are_left_out_and_counted(home, how):
    metrics = file_path(home, "metrics.jsonl")
    damage(metrics, how)
    assert_lists_healthy(home)
    listing = invoke(home, "runs").output
    assert "bad" in listing
    if how in ("garbage", "wrong_shape", "non_utf8"):
        assert "damaged line(s) of metrics.jsonl left out" in listing, listing
    resumed = invoke(home, *commands(home)["resume"])
    assert_no_crash(resumed)
    assert resumed.exit_code == 0, resumed.output


@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_lock_note_neither_hides_the_run_nor_stops_its_resume(home, how):
    damage(file_path(home, ".lock"), how)
    assert_lists_healthy(home)
    assert "bad" in invoke(home, "runs").output
    resumed = invoke(home, *commands(home)["resume"])
    assert_no_crash(resumed)
    assert resumed.exit_code == 0, resumed.output


@pytest.mark.parametrize("how", [*DAMAGES, "wrong_entries"])
def test_a_damaged_evaluation_cache_is_evaluated_afresh(home, how):
    cache = file_path(home, "evaluations.json")
    if how == "wrong_entries":  # the right version and keys, entries of another shape
        data = json.loads(cache.read_text())
        cache.write_text(json.dumps({**data, "entries": {key: [1, 2, 3] for key in data["entries"]}}))
    else:
        damage(cache, how)
    packed = invoke(home, *commands(home)["pack"])  # before evaluate rewrites the cache
    assert_no_crash(packed)
    assert packed.exit_code == 0, packed.output
    result = invoke(home, *EVALUATE)
    assert_no_crash(result)
    assert result.exit_code == 0 and "NLL_test" in result.output, result.output
    assert json.loads(cache.read_text())["entries"]  # rewritten whole
    damage(cache, how if how != "wrong_entries" else "wrong_shape")
    swept = invoke(home, *commands(home)["sweep"])
    assert_no_crash(swept)
    assert swept.exit_code == 0, swept.output


class Hostile:
    """Unpickling this would run code: `weights_only` loading must refuse it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').close()",))


@pytest.mark.parametrize("file,command", [("state.pt", "compose"), ("state.pt", "resume"),
                                          ("generator.pt", "compose packed")])
def test_a_weights_file_holding_python_objects_is_refused_in_one_line(home, file, command):
    marker = home / "ran"
    buffer = io.BytesIO()
    torch.save({"format": 1, "generator": Hostile(marker)}, buffer)
    file_path(home, file).write_bytes(buffer.getvalue())
    result = invoke(home, *commands(home)[command])
    assert_one_line_about(result, file)
    assert "not a plain weights file (it holds Python objects); it was not loaded" in result.output
    assert "weights_only" not in result.output and not marker.exists()


def test_an_eof_error_that_escapes_the_checks_is_one_line_not_a_bare_aborted(home, monkeypatch):
    def cut_short(*args, **kwargs):
        raise EOFError("No data left in file")

    monkeypatch.setattr("seqgan_music.corpora.corpus.read_tokens", cut_short)
    result = invoke(home, "corpus", "show", "hurt")
    assert_one_line_about(result, "EOFError: No data left in file")


# --- the terminal app -----------------------------------------------------------------------------------


def every_damage_beside_the_healthy(home: Path) -> tuple[list[str], list[str]]:
    """Copy `hurt` once per corpus file and `bad` once per run file and damage, each copy with that one
    file damaged that way (renamed inside to its folder's name first): the damaged corpora and runs."""
    corpora, runs = [], []
    for files, kind, folder, info in ((CORPUS_FILES, "corpora", "hurt", "manifest.json"),
                                      ((*RUN_FILES, *SPARE_FILES), "checkpoints", "bad", "run.json")):
        for file in files:
            for how in DAMAGES:
                name = f"{folder}-{file.strip('.').split('.')[0]}-{how}"
                copy = home / kind / name
                shutil.copytree(home / kind / folder, copy)
                (copy / info).write_text(json.dumps({**json.loads((copy / info).read_text()), "name": name}))
                damage(copy / file_path(home, file).relative_to(home / kind / folder), how)
                (corpora if kind == "corpora" else runs).append(name)
    return corpora, runs


def first_cells(table: DataTable) -> list[str]:
    """The first cell of each row as shown (a name, or a name with why it is damaged)."""
    return [str(getattr(cell, "plain", cell)) for cell in (table.get_row_at(i)[0] for i in range(table.row_count))]


def test_the_terminal_app_starts_on_a_home_with_every_file_damaged_every_way(home):
    """One home holds each damaged file in its own copy of the corpus or run, beside the healthy ones:
    the app starts, every pane opens, the damaged runs can be shown and chosen to compose with, and
    every item is listed (a damaged listing file as damaged); a damaged config is one notification."""
    corpora, runs = every_damage_beside_the_healthy(home)
    rows: dict[str, list[str]] = {}

    async def main() -> None:
        app_ = create_app(home)
        app_.NOTIFICATION_TIMEOUT = 120  # keep notifications until the test reads them
        async with app_.run_test(size=(120, 34)) as pilot:
            await settle(pilot)
            for pane in ("corpora", "train", "evaluate", "compose"):
                app_.query_one("#panes", TabbedContent).active = f"tab-{pane}"
                await settle(pilot)
            table = app_.query_one("#runs-table", DataTable)
            for name in runs:  # shown in turn in the train pane, which reads their run.json, config and metrics
                if name.startswith(("bad-run-", "bad-config-", "bad-metrics-")):
                    table.move_cursor(row=table.get_row_index(name))
                    await pilot.pause()
            for name in runs:  # chosen in turn in the compose pane, which loads the model
                if name.startswith("bad-state-"):
                    app_.query_one("#compose-model", Select).value = name
                    await settle(pilot)
            rows["errors"] = messages(app_, "error")
            rows["corpora"] = first_cells(app_.query_one("#corpora-table", DataTable))
            rows["runs"] = first_cells(app_.query_one("#runs-table", DataTable))
            choices = app_.query_one("#evaluate-runs", SelectionList)
            rows["evaluate"] = [choices.get_option_at_index(i).value for i in range(choices.option_count)]

    asyncio.run(main())
    assert {"ok", "bad"} <= set(rows["evaluate"]), rows["evaluate"]
    for table, names in (("corpora", ["healthy", "hurt", *corpora]), ("runs", ["ok", "bad", *runs])):
        listed = {row.split()[0] for row in rows[table]}
        assert listed == set(names), rows[table]
    for how in DAMAGES:
        assert f"hurt-manifest-{how}  damaged: manifest.json" in "\n".join(rows["corpora"]), rows["corpora"]
        assert f"bad-run-{how}  damaged: run.json" in "\n".join(rows["runs"]), rows["runs"]
        assert any(f"bad-config-{how}/config.toml is damaged" in error for error in rows["errors"]), rows["errors"]
