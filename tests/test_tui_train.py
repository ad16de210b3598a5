"""The Train pane: training from the screen in a worker, stop and resume, following a run trained
elsewhere, bad input, quitting mid-run; and the pure parts (form config, run history, metrics tail).

pytest-asyncio is not a dependency, so each test runs its coroutine with `asyncio.run`.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from textual.message import Message
from textual.pilot import Pilot
from textual.widgets import DataTable, Input

from seqgan_music.config import apply_overrides, config_to_toml, preset
from seqgan_music.corpora.grammar import build_grammar_corpus
from seqgan_music.errors import SeqganError
from seqgan_music.phases import Phase
from seqgan_music.training.launch import start_run
from seqgan_music.training.run_lock import RunLock
from seqgan_music.training.methods.base import Method
from seqgan_music.training.runs import METRICS_FILE, RUN_FILE, STATE_FILE, MetricsTail, read_metrics, read_run_info
from seqgan_music.tui.app import create_app
from seqgan_music.tui.train import (
    FORM_SETTINGS,
    LiveView,
    NewRunForm,
    RunHistory,
    RunRequest,
    TrainPane,
    check_new_run,
    form_values,
    request_config,
    split_assignments,
)
from seqgan_music.tui.widgets import LinePlot
from tui_helpers import messages, wait_until

SIZE = (110, 40)
CORPUS = "grammar15"
# A tiny schedule: 2 MLE epochs, 1 D round, 3 adversarial rounds of a small model.
TINY = {"mle.epochs": "2", "pretrain_d.rounds": "1", "adversarial.rounds": "3", "adversarial.rollouts": "2",
        "mle.batch_size": "32"}
MORE = ("generator.embedding=8 generator.hidden=16 run.eval_samples=20 adversarial.negatives=64 "
        "pretrain_d.negatives=64 adversarial.batch_size=16 mle.eval_every=1")
UNITS = 2 + 1 + 3


@pytest.fixture
def home(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    build_grammar_corpus(CORPUS, 15, count=200).save(root)
    return root


def run_pane(home: Path, test: Callable[[Pilot, TrainPane], Awaitable[None]], size: tuple[int, int] = SIZE,
             gate: Gate | None = None) -> None:
    """Run `test` on the pane; a gate is always released at the end (a failed test must not hang)."""

    async def main() -> None:
        app = create_app(home, panes=(TrainPane,))
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            try:
                await test(pilot, app.query_one(TrainPane))
            finally:
                if gate is not None:
                    gate.release.set()

    asyncio.run(main())


async def fill_form(pilot: Pilot, pane: TrainPane, name: str, **changes: str) -> None:
    """The tiny schedule in the form (after the preset filled it), plus `changes`."""
    pane.query_one("#train-preset").value = "quick"
    await pilot.pause()
    for setting, text in {**TINY, **changes}.items():
        if setting == "more":
            continue
        pane.query_one(f"#set-{setting.replace('.', '-').replace('_', '-')}", Input).value = text
    pane.query_one("#train-more", Input).value = changes.get("more", MORE)
    pane.query_one("#train-name", Input).value = name


async def start(pilot: Pilot, pane: TrainPane) -> None:
    pane.query_one("#start-button").press()
    await pilot.pause()


class Gate:
    """Holds the trainer before a given unit of a phase until released (to act mid-run)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, phase: str, unit: int) -> None:
        self.reached, self.release = threading.Event(), threading.Event()
        original = Method.run_unit

        def gated(method: Method, unit_phase: Phase, number: int) -> dict:
            if (unit_phase.name, number) == (phase, unit):
                self.reached.set()
                self.release.wait(30)
            return original(method, unit_phase, number)

        monkeypatch.setattr(Method, "run_unit", gated)

    async def wait(self, pilot: Pilot) -> None:
        await wait_until(pilot, self.reached.is_set, seconds=30)


def plotted(pane: TrainPane) -> dict[str, list]:
    """Title -> series of the plots the live view shows."""
    return {str(p.border_title): p.series for p in pane.query(LinePlot) if p.display}


# --- training from the screen ------------------------------------------------------------------


def test_training_from_the_screen_runs_in_a_worker_and_ends_with_a_finished_run(home: Path, monkeypatch) -> None:
    gate = Gate(monkeypatch, "adversarial", 2)

    async def test(pilot: Pilot, pane: TrainPane) -> None:
        await fill_form(pilot, pane, "tiny")
        await start(pilot, pane)
        await gate.wait(pilot)
        # Mid-run the interface answers: the live view has the MLE and D curves, phases switch, focus moves.
        await wait_until(pilot, lambda: "adversarial" in pane.query_one("#live-headline").content)
        assert pane.session is not None and pane.shown == "tiny"
        await wait_until(pilot, lambda: pane.query_one("#runs-table", DataTable).get_row("tiny")[2] == "adv 1/3")
        await pilot.press("left_square_bracket")
        assert any("D pre-train" in title for title in plotted(pane))
        await pilot.press("left_square_bracket")
        mle = plotted(pane)
        assert [x for x, _ in mle["generator loss · MLE"]["G loss"]] == [1.0, 2.0]
        assert pane.query_one("#runs-table", DataTable).get_row("tiny")[1:3] == ["training here", "adv 1/3"]
        await pilot.press("n")
        assert pilot.app.focused.id == "train-corpus"
        gate.release.set()
        await pilot.app.workers.wait_for_complete()
        await wait_until(pilot, lambda: pane.session is None)
        assert "run tiny finished" in messages(pilot.app)
        assert "finished" in pane.query_one("#live-headline").content
        await pilot.press("left_square_bracket")  # from MLE round to the last phase
        shown = plotted(pane)
        assert len(shown["discriminator accuracy · adversarial"]) == 2  # real and fake
        assert [x for x, _ in shown["mean reward · adversarial"]["reward"]] == [1.0, 2.0, 3.0]

    run_pane(home, test, gate=gate)
    folder = home / "checkpoints" / "tiny"
    assert read_run_info(folder)["status"] == "finished"
    assert (folder / STATE_FILE).is_file()
    records = read_metrics(folder)
    assert [(r["phase"], r["step"]) for r in records] == [
        ("mle", 1), ("mle", 2), ("pretrain_d", 1), ("adversarial", 1), ("adversarial", 2), ("adversarial", 3)]
    config = (folder / "config.toml").read_text()
    assert "hidden = 16" in config and 'preset = "quick"' in config


def test_stop_saves_a_checkpoint_and_resume_finishes_the_run(home: Path, monkeypatch) -> None:
    gate = Gate(monkeypatch, "adversarial", 2)

    async def test(pilot: Pilot, pane: TrainPane) -> None:
        await fill_form(pilot, pane, "paused")
        await start(pilot, pane)
        await gate.wait(pilot)
        await pilot.press("x")
        gate.release.set()
        await pilot.app.workers.wait_for_complete()
        await wait_until(pilot, lambda: pane.session is None)
        info = read_run_info(home / "checkpoints" / "paused")
        assert info["status"] == "interrupted"
        assert info["progress"]["phase"] == "adversarial" and info["progress"]["unit"] == 2
        assert (home / "checkpoints" / "paused" / STATE_FILE).is_file()
        assert any("saved and stopped" in m for m in messages(pilot.app))
        await pilot.press("u")
        await pilot.app.workers.wait_for_complete()
        await wait_until(pilot, lambda: "run paused finished" in messages(pilot.app), seconds=120)
        history = pane.histories["paused"]
        assert [r["step"] for r in history.records if r["phase"] == "adversarial"] == [1, 2, 3]

    run_pane(home, test, gate=gate)
    records = read_metrics(home / "checkpoints" / "paused")
    assert len(records) == UNITS
    assert read_run_info(home / "checkpoints" / "paused")["status"] == "finished"


def test_a_finished_run_cannot_be_resumed_and_one_run_trains_at_a_time(home: Path, monkeypatch) -> None:
    gate = Gate(monkeypatch, "mle", 1)

    async def test(pilot: Pilot, pane: TrainPane) -> None:
        await fill_form(pilot, pane, "first")
        await start(pilot, pane)
        await gate.wait(pilot)
        await fill_form(pilot, pane, "second")
        assert pane.query_one("#start-button").disabled
        pane.query_one("#train-name").focus()
        await pilot.press("enter")  # Enter in a field submits too
        assert any("is training: stop it" in m for m in messages(pilot.app))
        gate.release.set()
        await pilot.app.workers.wait_for_complete()
        await wait_until(pilot, lambda: pane.session is None)
        await pilot.press("escape")  # out of the form, back to the runs table
        assert pilot.app.focused.id == "runs-table"
        await pilot.press("u")
        assert any("already finished" in m for m in messages(pilot.app))

    run_pane(home, test, gate=gate)
    assert not (home / "checkpoints" / "second").exists()


def test_quitting_while_training_saves_the_run_first(home: Path, monkeypatch) -> None:
    gate = Gate(monkeypatch, "adversarial", 1)
    post_message = TrainPane.post_message

    def slow_to_end(pane: TrainPane, message: Message) -> bool:
        """The worker thread lingers after reporting its end, as it may under load: the app must
        still wait for it before closing (else the worker is cancelled mid-exit)."""
        posted = post_message(pane, message)
        if isinstance(message, TrainPane.Ended):
            time.sleep(0.5)
        return posted

    monkeypatch.setattr(TrainPane, "post_message", slow_to_end)

    async def test(pilot: Pilot, pane: TrainPane) -> None:
        await fill_form(pilot, pane, "quitter")
        await start(pilot, pane)
        await gate.wait(pilot)
        await pilot.press("q")
        assert pilot.app.is_running
        assert any("closes" in m for m in messages(pilot.app))
        gate.release.set()
        await pilot.app.workers.wait_for_complete()
        await wait_until(pilot, lambda: not pilot.app.is_running)

    run_pane(home, test, gate=gate)
    info = read_run_info(home / "checkpoints" / "quitter")
    assert info["status"] == "interrupted" and info["progress"]["unit"] == 1
    assert (home / "checkpoints" / "quitter" / STATE_FILE).is_file()


def test_a_failing_run_is_reported_and_the_app_stays_up(home: Path, monkeypatch) -> None:
    def broken(method: Method, phase: Phase, unit: int) -> dict:
        raise RuntimeError("CUDA out of memory (simulated)")

    monkeypatch.setattr(Method, "run_unit", broken)

    async def test(pilot: Pilot, pane: TrainPane) -> None:
        await fill_form(pilot, pane, "broken")
        await start(pilot, pane)
        await pilot.app.workers.wait_for_complete()
        await wait_until(pilot, lambda: any("run broken failed: RuntimeError: CUDA out of memory" in m
                                            for m in messages(pilot.app)))
        assert pilot.app.is_running and pane.session is None
        assert not pane.query_one("#start-button").disabled

    run_pane(home, test)
    assert read_run_info(home / "checkpoints" / "broken")["status"] == "interrupted"


# --- following a run trained elsewhere ---------------------------------------------------------


def tiny_config():
    config = apply_overrides(preset("quick"), [f"{k}={v}" for k, v in TINY.items()] + split_assignments(MORE))
    return apply_overrides(config, ["run.device=cpu"])


def trained_elsewhere_mid_mle(home: Path, name: str) -> tuple[Path, list[str], dict, RunLock]:
    """A finished run rewound to mid-MLE and `running`, its lock held, as a `seqgan-music train` in
    another terminal leaves it: its folder, the metrics lines still to come (the first is there),
    its finished run.json and the lock."""
    trainer = start_run(home, CORPUS, tiny_config(), name)
    assert trainer.run() == "finished"
    folder = trainer.folder
    records = (folder / METRICS_FILE).read_text().splitlines(keepends=True)
    info = read_run_info(folder)
    (folder / METRICS_FILE).write_text(records[0])
    (folder / RUN_FILE).write_text(json.dumps({**info, "status": "running",
                                               "progress": {**info["progress"], "phase": "mle", "unit": 1}}))
    return folder, records, info, RunLock(folder).acquire()


def test_a_run_trained_elsewhere_is_followed_through_its_metrics(home: Path) -> None:
    folder, records, info, lock = trained_elsewhere_mid_mle(home, "cli-run")

    async def test(pilot: Pilot, pane: TrainPane) -> None:
        assert pane.shown == "cli-run" and pane.tail is not None
        assert len(pane.histories["cli-run"].records) == 1
        with open(folder / METRICS_FILE, "a") as stream:
            stream.writelines(records[1:4])
            stream.write(records[4][:10])  # a line still being written is not read yet
        history = pane.histories["cli-run"]
        await wait_until(pilot, lambda: len(history.records) > 1)  # read at the pane's next look
        assert [(r["phase"], r["step"]) for r in history.records] == [
            ("mle", 1), ("mle", 2), ("pretrain_d", 1), ("adversarial", 1)]
        assert "adversarial" in pane.query_one("#live-headline").content
        with open(folder / METRICS_FILE, "a") as stream:
            stream.write(records[4][10:])
            stream.writelines(records[5:])
        (folder / RUN_FILE).write_text(json.dumps(info))
        lock.release()
        await wait_until(pilot, lambda: len(history.records) > 4 and history.status == "finished")
        assert len(history.records) == UNITS
        assert "finished" in pane.query_one("#live-headline").content
        assert pane.query_one("#runs-table", DataTable).get_row("cli-run")[1] == "finished"

    try:
        run_pane(home, test)
    finally:
        lock.release()


def test_the_last_metrics_are_read_when_the_run_ends_between_two_looks(home: Path) -> None:
    """The trainer writes its last metrics, then `finished`: when both land between the pane's read
    of the metrics and its read of run.json, the pane must still show every record."""
    folder, records, info, lock = trained_elsewhere_mid_mle(home, "racing")

    async def test(pilot: Pilot, pane: TrainPane) -> None:
        assert pane.shown == "racing" and pane.tail is not None
        tail_poll = pane.tail.poll
        ended = []

        def poll_then_finish() -> list[dict]:  # the trainer ends just after the pane read the metrics
            found = tail_poll()
            if not ended:
                ended.append(True)
                with open(folder / METRICS_FILE, "a") as stream:
                    stream.writelines(records[1:])
                (folder / RUN_FILE).write_text(json.dumps(info))
                lock.release()
            return found

        pane.tail.poll = poll_then_finish
        history = pane.histories["racing"]
        await wait_until(pilot, lambda: history.status == "finished" and len(history.records) == UNITS)

    try:
        run_pane(home, test)
    finally:
        lock.release()


def test_an_interrupted_cli_run_is_resumed_from_the_screen(home: Path, monkeypatch) -> None:
    trainer = start_run(home, CORPUS, tiny_config(), "half")
    trainer.request_stop()
    assert trainer.run() == "interrupted"  # stopped after its first unit, with a checkpoint

    async def test(pilot: Pilot, pane: TrainPane) -> None:
        assert pane.query_one(LiveView).query_one("#resume-button").disabled is False
        assert await pilot.click("#resume-button")
        await pilot.app.workers.wait_for_complete()
        await wait_until(pilot, lambda: "run half finished" in messages(pilot.app), seconds=120)

    run_pane(home, test, size=(130, 40))  # wide: the buttons show (narrow: the footer's keys)
    assert [(r["phase"], r["step"]) for r in read_metrics(home / "checkpoints" / "half")][:2] == [("mle", 1), ("mle", 2)]
    assert read_run_info(home / "checkpoints" / "half")["status"] == "finished"


def test_a_run_left_marked_running_by_a_process_that_holds_no_lock_resumes_on_u(home: Path) -> None:
    import os
    import socket

    trainer = start_run(home, CORPUS, tiny_config(), "claimed")
    trainer.request_stop()
    assert trainer.run() == "interrupted"
    folder = home / "checkpoints" / "claimed"
    info = read_run_info(folder)  # as a killed `seqgan-music train` leaves it: marked running, its lock free
    (folder / RUN_FILE).write_text(json.dumps({**info, "status": "running",
                                               "owner": {"pid": os.getpid(), "host": socket.gethostname()}}))

    async def test(pilot: Pilot, pane: TrainPane) -> None:
        assert pane.shown == "claimed"
        await pilot.press("u")  # once: no asking again
        await pilot.app.workers.wait_for_complete()
        await wait_until(pilot, lambda: "run claimed finished" in messages(pilot.app), seconds=120)

    run_pane(home, test)
    assert read_run_info(folder)["status"] == "finished"


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(("setting", "label"), FORM_SETTINGS)
def test_a_bad_value_in_a_setting_field_names_the_field_and_writes_nothing(home: Path, setting: str, label: str) -> None:
    async def test(pilot: Pilot, pane: TrainPane) -> None:
        await fill_form(pilot, pane, "bad", **{setting: "lots"})
        await start(pilot, pane)
        assert any(m.startswith(f"{label}: {setting} must be") for m in messages(pilot.app)), messages(pilot.app)
        assert pane.session is None

    run_pane(home, test)
    assert not (home / "checkpoints").exists()


@pytest.mark.parametrize(("field", "text", "expected"), [
    ("more", "adversarial.rolouts=3", "more settings: unknown setting adversarial.rolouts (did you mean rollouts?)"),
    ("more", "rounds", "more settings: cannot read setting 'rounds'"),
    ("name", "no/slashes", "run name"),
    ("adversarial.rounds", "-1", "adv rounds: adversarial.rounds must be an integer >= 0"),
    ("mle.epochs", "", "MLE epochs: enter a value"),
])
def test_bad_form_input_gives_a_message_not_a_crash(home: Path, field: str, text: str, expected: str) -> None:
    async def test(pilot: Pilot, pane: TrainPane) -> None:
        await fill_form(pilot, pane, text if field == "name" else "bad", **({} if field == "name" else {field: text}))
        await start(pilot, pane)
        assert any(expected in m for m in messages(pilot.app)), messages(pilot.app)
        assert pilot.app.is_running

    run_pane(home, test)
    assert not (home / "checkpoints").exists()


def test_a_taken_run_name_and_a_missing_corpus_are_refused(home: Path, tmp_path: Path) -> None:
    start_run(home, CORPUS, tiny_config(), "taken")

    async def test(pilot: Pilot, pane: TrainPane) -> None:
        await fill_form(pilot, pane, "taken")
        await start(pilot, pane)
        assert any("a run named 'taken' already exists" in m for m in messages(pilot.app))

    run_pane(home, test)
    empty = tmp_path / "empty"
    empty.mkdir()

    async def no_corpus(pilot: Pilot, pane: TrainPane) -> None:
        assert "select a run, or start one" in pane.query_one("#live-headline").content
        await pilot.press("x")
        await pilot.press("u")
        await start(pilot, pane)
        assert any("choose a corpus to train on" in m for m in messages(pilot.app))

    run_pane(empty, no_corpus, size=(80, 24))
    assert not (empty / "checkpoints").exists()


# --- pure parts -------------------------------------------------------------------------------


def request(**changes: str) -> RunRequest:
    values = {**form_values(preset("quick")), **{k: v for k, v in changes.items() if "." in k}}
    return RunRequest(CORPUS, changes.get("preset", "quick"), changes.get("method", "seqgan"), changes.get("name", ""),
                      "cpu", tuple(values.items()), changes.get("more", ""))


def test_the_form_filled_from_a_preset_gives_that_preset_back() -> None:
    for name in ("quick", "folk", "grammar", "cpu-oracle"):
        config = preset(name)
        values = form_values(config)
        rebuilt = request_config(RunRequest("c", name, config.run.method, "", config.run.device, tuple(values.items())))
        assert config_to_toml(rebuilt) == config_to_toml(config)


def test_the_form_settings_and_more_settings_reach_the_config(home: Path) -> None:
    config = check_new_run(home, request(**{"adversarial.rounds": "7"}, method="rebar",
                                         more="relaxation.control=sequence, discriminator.filter_widths=[1, 2]"
                                              " discriminator.filter_counts=[5,5]"))
    assert config.adversarial.rounds == 7 and config.run.method == "rebar" and config.run.device == "cpu"
    assert config.relaxation.control == "sequence" and config.discriminator.filter_widths == [1, 2]
    assert split_assignments("a.b=1, c.d=[1, 2] e.f=x") == ["a.b=1", "c.d=[1, 2]", "e.f=x"]
    with pytest.raises(SeqganError, match="choose a corpus"):
        check_new_run(home, RunRequest("", "quick", "seqgan", "", "cpu", ()))


def test_run_history_headline_eta_and_curves() -> None:
    history = RunHistory.of_config("r", preset("quick"))
    assert history.phases == ("mle", "pretrain_d", "adversarial") and history.totals["mle"] == 15
    for step in (1, 2, 3):
        history.add({"phase": "mle", "step": step, "g_loss": 3.0 - step, "elapsed": 10.0 * step})
    assert history.phase_eta() == pytest.approx(12 * 10.0)
    assert history.headline() == "r · running · MLE (1/3) epoch 3/15 · 0:00:30 · ETA 0:02:00"
    history.add({"phase": "pretrain_d", "step": 1, "d_loss": 0.5, "d_acc_real": 0.9, "d_acc_fake": 0.8,
                 "elapsed": 50.0})
    assert history.phase_eta() == pytest.approx(20.0)  # one of 2 rounds took 20 s after MLE's 30
    curves = dict(history.curves("pretrain_d"))
    assert curves["discriminator accuracy"] == {"D on real": [(1.0, 0.9)], "D on fake": [(1.0, 0.8)]}
    assert "generator loss" not in curves
    assert history.logged_phases() == ["mle", "pretrain_d"]


def test_metrics_tail_reads_complete_lines_and_starts_over_when_cut_back(tmp_path: Path) -> None:
    tail = MetricsTail(tmp_path)
    assert tail.poll() == []  # no file yet
    path = tmp_path / METRICS_FILE
    path.write_text('{"step": 1}\n{"step": 2}\n{"ste')
    assert tail.poll() == [{"step": 1}, {"step": 2}]
    with open(path, "a") as stream:
        stream.write('p": 3}\nnot json\n')
    assert tail.poll() == [{"step": 3}]
    assert tail.poll() == []
    path.write_text('{"step": 1}\n')  # a resume cut it back to the checkpoint
    assert tail.poll() == [{"step": 1}] and tail.restarted


def test_every_method_is_offered_by_its_label_and_says_what_it_does(home: Path) -> None:
    from textual.widgets import Select, Static

    from seqgan_music.training.methods import METHOD_CLASSES

    async def test(pilot: Pilot, pane: TrainPane) -> None:
        select = pane.query_one("#train-method", Select)
        assert [value for _, value in select._options if value is not Select.NULL] == list(METHOD_CLASSES)
        hint = pane.query_one("#method-hint", Static)
        for name, method in METHOD_CLASSES.items():
            select.value = name
            await wait_until(pilot, lambda: str(hint.render()) == method.summary, seconds=10)
        assert pane.query_one(NewRunForm).request().method == list(METHOD_CLASSES)[-1]

    run_pane(home, test)
