"""Shared test helpers: the real data in ../shared beside the repository, and torch on one thread."""

import gc
import os
import signal
from dataclasses import replace
from pathlib import Path

import pytest

# Every model in the tests is tiny: a second intra-op thread gains nothing and, on a busy 2-core machine,
# OpenMP's spinning threads make a step many times slower (a default-model compose: 20 s on one thread,
# 83 s on two). Set before torch is imported, so it holds in every thread (the terminal app's workers)
# and in the subprocesses tests start, which inherit the environment.
os.environ["OMP_NUM_THREADS"] = "1"
# The CLI's rich consoles fix their width at import when COLUMNS is set, and pytest-xdist's workers start
# with COLUMNS=80 LINES=24: the tests that give CliRunner a wider COLUMNS then read tables cut at 80
# columns. Each test that cares about the width sets it itself.
os.environ.pop("COLUMNS", None)
os.environ.pop("LINES", None)

SHARED = Path(__file__).resolve().parents[2] / "shared"
HELD_OUT_TUNES = 16  # valid and test tunes tune_model measures its NLL on
FEW_PERMUTATIONS = 1_000  # shuffles in the permutation tests of the experiments the tests run


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`../shared/data` beside the repository; skips the test where it is absent (a user's machine)."""
    data = SHARED / "data"
    if not data.is_dir():
        pytest.skip(f"real data not found at {data} (expected ../shared/data beside the repository)")
    return data


@pytest.fixture(scope="session")
def nottingham_midi(shared_data) -> list:
    """Every Nottingham MIDI file read once per test session (a Melody, or a Skipped with its reason, each;
    about 15 s): the corpora built from them and the reader's own tests share it (building a corpus
    transposes copies, never the melodies themselves)."""
    from seqgan_music.corpora.midi import read_midi_folder

    folder = shared_data / "nottingham" / "MIDI"
    if not folder.is_dir():
        pytest.skip(f"Nottingham MIDI files not found at {folder}")
    return list(read_midi_folder(folder))


@pytest.fixture(scope="session")
def nottingham_grid16(nottingham_midi):
    """The Nottingham MIDI files as a grid16 corpus (built once per test session, about 10 s)."""
    from seqgan_music.corpora.encodings import music_encoding
    from seqgan_music.corpora.music import build_music_corpus
    from seqgan_music.corpora.split import SplitPlan

    return build_music_corpus("nottingham", nottingham_midi, music_encoding("grid16"), SplitPlan(), {"kind": "midi"})


@pytest.fixture
def few_permutations(monkeypatch):
    """Experiments run their permutation tests with FEW_PERMUTATIONS shuffles instead of the product's 10,000
    (with 2,000 scores a side, each took 0.3 s): tests of an experiment check that its p-values are
    computed and reported, which a thousand shuffles show as well; tests/test_significance.py tests the test."""
    from seqgan_music.evaluation.significance import compare
    from seqgan_music.experiments import tunes
    from seqgan_music.run_evaluation import comparison

    def fewer(a, b, permutations: int = FEW_PERMUTATIONS, seed: int = 0):
        return compare(a, b, min(permutations, FEW_PERMUTATIONS), seed)

    for module in (comparison, tunes):
        monkeypatch.setattr(module, "compare", fewer)


class RecordingReporter:
    """A progress Reporter that records every call, to check what long work reports."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def begin(self, task: str, total: int | None = None) -> None:
        self.calls.append(("begin", task, total))

    def advance(self, steps: int = 1) -> None:
        self.calls.append(("advance", steps))

    def end(self) -> None:
        self.calls.append(("end",))

    def note(self, message: str) -> None:
        self.calls.append(("note", message))


@pytest.fixture
def recorder() -> RecordingReporter:
    return RecordingReporter()


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """Torch on one thread for the whole session (see OMP_NUM_THREADS above), also where something
    imported torch before this file; restored after the session. Modules that name it keep working."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def window_model(nottingham_grid16, tmp_path_factory) -> Path:
    """A tiny grid16 window model (run "tiny") trained for two epochs on the Nottingham tunes, packed once
    per session in `<home>/packed`: what window models alone do (16 key candidates, --steps, meter warnings)
    is tested on it, now that the shipped default composes whole tunes."""
    from typer.testing import CliRunner

    from seqgan_music.cli import app
    from training_helpers import train

    home = tmp_path_factory.mktemp("window-model")
    nottingham_grid16.save(home)
    train(home, "nottingham", "tiny", epochs=2)
    result = CliRunner().invoke(app, ["pack", "tiny", "--out", str(home / "packed"), "--home", str(home),
                                      "--reproduce", "seqgan-music train nottingham --run tiny"])
    assert result.exit_code == 0, result.output
    return home / "packed"


@pytest.fixture(scope="session")
def tune_model(nottingham_grid16, tmp_path_factory) -> Path:
    """A tiny lookback model with attention over bars trained for one epoch on the whole Nottingham
    tunes, packed once per session in `<home>/packed` (run "tiny-tunes" in `<home>`; tests that change the
    project work on a copy). Without header inputs (a window model cannot have them), so that a copy of
    its run can pose as a window model (test_tui_compose_form.py). It trains on every training tune, so
    it knows every header, but measures its NLL on the first HELD_OUT_TUNES valid and test tunes only
    (on all of them, that took as long as the epoch)."""
    from typer.testing import CliRunner

    from seqgan_music.cli import app
    from seqgan_music.config import apply_overrides, preset
    from seqgan_music.training.launch import start_run

    home = tmp_path_factory.mktemp("tune-model")
    corpus, held_out = nottingham_grid16, ("valid", "test")
    replace(corpus, manifest=dict(corpus.manifest),
            tune_sequences={s: tunes[:HELD_OUT_TUNES] if s in held_out else tunes
                            for s, tunes in corpus.tune_sequences.items()},
            tune_of_sequence={s: owners[:HELD_OUT_TUNES] if s in held_out else owners
                              for s, owners in corpus.tune_of_sequence.items()}).save(home)
    config = apply_overrides(preset("tunes-quick"), ["generator.header_inputs=false",
                                                      "generator.embedding=8", "generator.hidden=16", "mle.epochs=1",
                                                      "mle.batch_size=64", "run.method=mle", "run.eval_samples=4",
                                                      "run.samples=1", "run.threads=1", "run.device=cpu"])
    assert start_run(home, "nottingham", config, "tiny-tunes").run() == "finished"
    result = CliRunner().invoke(app, ["pack", "tiny-tunes", "--out", str(home / "packed"), "--home", str(home)])
    assert result.exit_code == 0, result.output
    return home / "packed"


def pytest_collection_finish(session: pytest.Session) -> None:
    """Cheaper garbage collection for the session. A full collection walks every object the collector
    tracks, and the libraries the test modules import (torch, music21, scipy, Textual) leave some 270,000
    of them that live as long as the process: freeze them out of its walks, and run a full collection
    after 50 collections of the middle generation instead of 10 (test_tui_app.py: 44 full collections
    took 50 s of its 220 s; frozen and at 50, 13 took 16 s). Cyclic garbage is still collected."""
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, 50)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Ctrl-C reaches the commands the tests start, however the suite was launched: a shell starts a
    background job (`make test &`, a script's `&`) with SIGINT ignored, which every child would
    inherit, and the tests that press Ctrl-C on a command would then test nothing but that."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)

