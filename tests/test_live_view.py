"""The CLI's view of a training run: a real time left (ETA) in every phase from its first unit on,
however long units take, also after a resume."""

import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from seqgan_music.cli.live import LiveTrainingView
from seqgan_music.config import apply_overrides, preset
from seqgan_music.corpora.oracle import build_oracle_corpus
from seqgan_music.phases import phase_label
from seqgan_music.training.launch import resume_run, start_run
from training_helpers import TINY

CLOCK = re.compile(r"ETA\s+(\d+:\d\d:\d\d|-:--:--)")


@pytest.fixture(scope="module")
def oracle_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("home")
    build_oracle_corpus("oracle", seed=3, train=128, held_out=32).save(home)
    return home


class Watcher:
    """Passes events to the view and reads, after every unit, the ETA on its phase's progress line."""

    def __init__(self, view: LiveTrainingView, stop_after: tuple[str, int] | None = None) -> None:
        self.view, self.stop_after, self.trainer = view, stop_after, None
        self.seen: list[tuple[str, int, int, str]] = []  # (phase, unit, total, the ETA shown)

    def on_event(self, event) -> None:
        self.view.on_event(event)
        if event.kind != "unit":
            return
        screen = Console(file=io.StringIO(), width=120, color_system=None)
        screen.print(self.view.progress)
        (line,) = [row for row in screen.file.getvalue().splitlines()
                   if row.startswith(phase_label(event.phase)) and f"{event.unit}/{event.total}" in row]
        self.seen.append((event.phase, event.unit, event.total, CLOCK.search(line)[1]))
        if (event.phase, event.unit) == self.stop_after:
            self.trainer.request_stop()


def train(home: Path, run: str, method: str, stop_after: tuple[str, int] | None = None) -> list[tuple]:
    config = apply_overrides(preset("cpu-oracle"), [*TINY, f"run.method={method}", "mle.epochs=3", "pretrain_d.rounds=2",
                                                    "adversarial.rounds=2", "scheduled_sampling.epochs=2",
                                                    "run.eval_samples=16", "run.threads=1"])
    watcher = Watcher(LiveTrainingView(Console(file=io.StringIO(), width=120)), stop_after)
    watcher.trainer = start_run(home, "oracle", config, run, watcher)
    if watcher.trainer.run() == "finished":
        return watcher.seen
    resumed = Watcher(LiveTrainingView(Console(file=io.StringIO(), width=120)))
    resumed.trainer = resume_run(home, run, None, resumed)
    assert resumed.trainer.run() == "finished"
    return resumed.seen


@pytest.mark.parametrize("method", ["seqgan", "ss"])
def test_every_phase_shows_a_time_left_from_its_first_unit(oracle_home, method):
    seen = train(oracle_home, f"eta-{method}", method)
    assert {phase for phase, *_ in seen} == ({"mle", "ss"} if method == "ss" else {"mle", "pretrain_d", "adversarial"})
    for phase, unit, total, shown in seen:
        assert shown != "-:--:--", (phase, unit, total)


def test_a_resumed_run_shows_a_time_left_after_its_first_unit(oracle_home):
    seen = train(oracle_home, "eta-resumed", "seqgan", stop_after=("mle", 1))
    assert seen[0][:2] == ("mle", 2)  # the resumed session's first unit...
    assert all(shown != "-:--:--" for *_, shown in seen)  # ...already has a pace to go by
