"""A damaged project home: every project file damaged every way, under every command that reads it.

A small healthy home is built once (two music corpora, `healthy` and `hurt`; a run on each, `ok`
finished and `bad` interrupted and evaluated; `bad` packed into `packed/`) and each case copies it
and damages one file of `hurt`, `bad` or `packed`. A command that needs the file fails with one red
line naming it; a listing exits 0, shows a damaged item as damaged and still lists the healthy
corpus and run; the terminal app starts and lists them too. Never a traceback, never a bare
"Aborted.".
"""

from __future__ import annotations

import asyncio
import io
import json
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import Result
from textual.widgets import TabbedContent
from typer.testing import CliRunner

from seqgan_music.cli import app
from seqgan_music.tui.app import create_app
from test_cli import write_tune
from training_helpers import TINY, train
from tui_helpers import screen_lines, settle

runner = CliRunner()
DAMAGES = ("empty", "truncated", "garbage", "wrong_shape", "non_utf8")
TEXT_SUFFIXES = (".json", ".jsonl", ".toml")

CORPUS_FILES = ("manifest.json", "vocab.json", "tunes.json", "tokens.npz")
RUN_FILES = ("config.toml", "run.json", "state.pt")
MODEL_FILES = ("model.json", "generator.pt")


# --- the healthy home and its damage -------------------------------------------------------------


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """The healthy home every case copies: built once, never changed."""
    home = tmp_path_factory.mktemp("pristine") / "home"
    tunes = home.parent / "tunes"
    for index in range(12):
        write_tune(tunes / f"tune{index}.mid", [67 + (index + i) % 7 for i in range(64)])
    for name in ("healthy", "hurt"):
        built = invoke(home, "corpus", "build", "midi", str(tunes), "--name", name, "--length", "34")
        assert built.exit_code == 0, built.output
    train(home, "healthy", "ok", 1)
    train(home, "hurt", "bad", 1)
    assert invoke(home, "pack", "bad", "--out", str(home / "packed")).exit_code == 0
    assert invoke(home, *EVALUATE).exit_code == 0
    run_json = home / "checkpoints" / "bad" / "run.json"  # interrupted: a resume reads everything
    run_json.write_text(json.dumps({**json.loads(run_json.read_text()), "status": "interrupted"}))
    return home


@pytest.fixture
def home(pristine, tmp_path) -> Path:
    copy = tmp_path / "home"
    shutil.copytree(pristine, copy)
    return copy


def invoke(home: Path, *args: str) -> Result:
    return runner.invoke(app, [*args, "--home", str(home)])


def damage(path: Path, how: str) -> None:
    """Damage `path` in place: empty, cut in half, random bytes, valid in its format but of the wrong
    shape, or (text files) a byte that is not UTF-8."""
    data = path.read_bytes()
    text = path.suffix in TEXT_SUFFIXES
    damaged = {
        "empty": lambda: b"",
        "truncated": lambda: data[: len(data) // 2],
        "garbage": lambda: random.Random(path.name).randbytes(300),
        "wrong_shape": lambda: WRONG_SHAPE[path.suffix](data),
        "non_utf8": lambda: data.replace(b'"', b'"\xff\xfe', 1) if text else b"\xff\xfe" + data[2:],
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
}


# --- the commands ------------------------------------------------------------------------------------

EVALUATE = ("evaluate", "bad", "--samples", "16", "--metrics", "nll-test")


def commands(home: Path) -> dict[str, tuple[str, ...]]:
    out = str(home / "out")
    return {
        "corpus show": ("corpus", "show", "hurt"),
        "corpus export": ("corpus", "export", "hurt", "--n", "1", "--out", out),
        "train": ("train", "hurt", "--run", "fresh", "--preset", "quick", *(f"--set={s}" for s in TINY),
                  "--set=mle.epochs=1"),
        "evaluate": EVALUATE,
        "compose": ("compose", "--run", "bad", "--n", "1", "--format", "abc", "--out", out),
        "generate": ("generate", "bad", "--n", "1", "--out", out),
        "resume": ("train", "--resume", "bad"),
        "compose packed": ("compose", "--run", str(home / "packed"), "--n", "1", "--format", "abc", "--out", out),
        "pack": ("pack", "bad", "--out", str(home / "repacked")),
        "export": ("export", "bad", "--format", "abc", "--out", out),
    }


NEEDED_BY = {  # the commands that cannot go on without the file
    **{file: ("corpus show", "corpus export", "train", "evaluate", "compose", "generate", "resume", "pack", "export")
       for file in CORPUS_FILES},
    "config.toml": ("evaluate", "compose", "generate", "resume", "pack"),
    "run.json": ("evaluate", "compose", "generate", "resume", "pack", "export"),
    "state.pt": ("evaluate", "compose", "generate", "resume", "pack"),
    **{file: ("compose packed",) for file in MODEL_FILES},
}


def file_path(home: Path, file: str) -> Path:
    folder = ("corpora/hurt" if file in CORPUS_FILES else "checkpoints/bad" if file in (*RUN_FILES, "metrics.jsonl",
              "evaluations.json") else "packed")
    return home / folder / file


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


# --- the matrix ----------------------------------------------------------------------------------------


def test_every_command_works_on_the_healthy_home(home):
    """The baseline: each command the matrix damages succeeds when nothing is damaged."""
    assert_lists_healthy(home)
    for name, args in commands(home).items():
        result = invoke(home, *args)
        assert result.exit_code == 0, f"{name}: {result.output}"


@pytest.mark.parametrize("how", DAMAGES)
@pytest.mark.parametrize("file", [*CORPUS_FILES, *RUN_FILES, *MODEL_FILES])
def test_a_damaged_file_gives_one_line_in_each_command_that_needs_it(home, file, how):
    damage(file_path(home, file), how)
    listed_as_damaged = {"manifest.json": "hurt", "run.json": "bad"}.get(file)
    assert_lists_healthy(home, listed_as_damaged)
    for name in NEEDED_BY[file]:
        result = invoke(home, *commands(home)[name])
        assert_one_line_about(result, file)
    assert not (home / "checkpoints" / "fresh").exists()  # a refused start leaves no run behind


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


@pytest.mark.parametrize("how", [*DAMAGES, "wrong_entries"])
def test_a_damaged_evaluation_cache_is_evaluated_afresh(home, how):
    cache = file_path(home, "evaluations.json")
    if how == "wrong_entries":  # the right version and keys, entries of another shape
        data = json.loads(cache.read_text())
        cache.write_text(json.dumps({**data, "entries": {key: [1, 2, 3] for key in data["entries"]}}))
    else:
        damage(cache, how)
    result = invoke(home, *EVALUATE)
    assert_no_crash(result)
    assert result.exit_code == 0 and "NLL_test" in result.output, result.output
    assert json.loads(cache.read_text())["entries"]  # rewritten whole


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

APP_HOMES = {
    "listing files": [("manifest.json", "wrong_shape"), ("run.json", "wrong_shape")],
    "contents": [("tokens.npz", "empty"), ("tunes.json", "wrong_shape"), ("metrics.jsonl", "wrong_shape"),
                 ("state.pt", "garbage")],
    "not UTF-8": [("manifest.json", "non_utf8"), ("run.json", "non_utf8"), ("config.toml", "non_utf8")],
}


@pytest.mark.parametrize("damages", APP_HOMES.values(), ids=APP_HOMES.keys())
def test_the_terminal_app_starts_on_a_damaged_home_and_lists_the_healthy_items(home, damages):
    for file, how in damages:
        damage(file_path(home, file), how)
    shown: dict[str, str] = {}

    async def main() -> None:
        app_ = create_app(home)
        async with app_.run_test(size=(120, 34)) as pilot:
            await settle(pilot)
            for pane in ("corpora", "train", "evaluate", "compose"):
                app_.query_one("#panes", TabbedContent).active = f"tab-{pane}"
                await settle(pilot)
                shown[pane] = "\n".join(screen_lines(app_))

    asyncio.run(main())
    assert "healthy" in shown["corpora"]
    assert "ok" in shown["train"] and "ok" in shown["evaluate"]
    files = [file for file, _ in damages]
    if "manifest.json" in files:
        assert "hurt  damaged: manifest.json" in shown["corpora"]
    if "run.json" in files:
        assert "bad  damaged: run.json" in shown["train"]
