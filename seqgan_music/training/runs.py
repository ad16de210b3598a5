"""A run on disk: `<home>/checkpoints/<run>/` with `config.toml`, `run.json` (corpus, hash, method,
status, progress), `state.pt` (the checkpoint), `metrics.jsonl` (one JSON object per logged unit)
and `samples/`. Each file has one writer: the trainer."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from seqgan_music.atomic import write_text_atomic
from seqgan_music.config import Config, config_from_toml
from seqgan_music.errors import DamagedFileError, SeqganError
from seqgan_music.paths import check_name, check_no_case_twin
from seqgan_music.phases import PHASES
from seqgan_music.project_files import (
    DamagedItem,
    damage_as_error,
    expect_fields,
    json_object_line,
    read_json,
    read_json_lines,
    read_text,
)
from seqgan_music.training.methods import method_phases
from seqgan_music.training.run_lock import lock_holder

CONFIG_FILE, RUN_FILE, STATE_FILE, METRICS_FILE, SAMPLES_DIR = (
    "config.toml", "run.json", "state.pt", "metrics.jsonl", "samples")
FINAL_SAMPLES = "final"  # samples/final.txt (and final-NN.mid): written when the run finishes
_UNIT_SAMPLES = re.compile(r"^(?P<phase>.+)-(?P<unit>\d+)$")  # samples/<phase>-<unit>.txt at an evaluation


def checkpoints_dir(home: Path) -> Path:
    return home / "checkpoints"


def run_dir(home: Path, name: str) -> Path:
    return checkpoints_dir(home) / check_name(name, "run")


def default_run_name(corpus: str, method: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return re.sub(r"[^A-Za-z0-9._-]", "-", f"{corpus}-{method}-{stamp}")[:64]


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def run_remedy(folder: Path) -> str:
    """What to do about a damaged run file: the run cannot be trusted without it."""
    return f"delete the run folder {folder} (or restore it from a backup) and train anew"


def read_run_info(folder: Path) -> dict:
    """The run's run.json, checked to hold what `create_run_folder` and the trainer write."""
    path = folder / RUN_FILE
    if not path.is_file():
        raise SeqganError(f"no run named {folder.name!r} in {folder.parent}: see `seqgan-music runs`")
    with damage_as_error(path, run_remedy(folder)):
        info = expect_fields(read_json(path), {"corpus": str, "corpus_hash": str, "method": str, "status": str},
                             {"name": str, "progress": (dict, type(None)), "elapsed": (int, float, type(None)),
                              "owner": (dict, type(None)), "init": (dict, type(None))})
        expect_fields(info.get("progress") or {}, {}, {"phase": str, "unit": int, "units": int, "phases": list})
    return info


def read_run_config(folder: Path) -> Config:
    """The run's saved config.toml; one-line errors for a missing run or a damaged file."""
    read_run_info(folder)  # names a missing run the same way everywhere
    path = folder / CONFIG_FILE
    with damage_as_error(path, run_remedy(folder)):
        return config_from_toml(read_text(path))


def write_run_info(folder: Path, info: dict) -> None:
    write_text_atomic(folder / RUN_FILE, json.dumps(info, indent=2))


def mark_aborted(folder: Path) -> None:
    """Record that the run stopped without saving (its last checkpoint is what a resume continues)."""
    info = read_run_info(folder)
    info.update(status="interrupted", updated=now())
    info.pop("owner", None)
    write_run_info(folder, info)


def this_process() -> dict:
    """Who marks a run running: this process's id and host, so that another can tell whether it still is."""
    return {"pid": os.getpid(), "host": socket.gethostname()}


def check_takeover(folder: Path, info: dict, force: bool = False) -> str:
    """May this process, which has just taken the run's lock, train a run marked running? The lock
    was free, so no process on this machine trains it: the mark is stale (its process was killed
    or crashed) and the run is taken over, with the notice returned. Only a mark made on another
    machine is refused (unless `force`), for a network drive may not pass locks between machines.
    Returns "" when there is nothing to say."""
    if info.get("status") != "running":
        return ""
    owner = info.get("owner") or {}
    pid, host, name = owner.get("pid"), owner.get("host"), folder.name
    if isinstance(host, str) and host != socket.gethostname() and not force:
        raise SeqganError(f"run {name!r} is marked running by process {pid} on {host}: that machine may still be "
                          "training it; stop it there first, or resume with --force if nothing is training it")
    return (f"run {name!r} was marked running by {owner_process(info)}, which has ended: "
            "taking it over from its last checkpoint")


STALE = "interrupted (stale)"  # a run left marked running by a process that has ended


def listed_status(folder: Path, info: dict) -> str:
    """The run's status as listings show it: a run marked running on this machine whose lock no
    process holds was left so by a process that has ended (killed, crashed), and reads STALE."""
    status = str(info.get("status", "?"))
    host = (info.get("owner") or {}).get("host")
    if status != "running" or (isinstance(host, str) and host != socket.gethostname()):
        return status
    try:
        held = lock_holder(folder) is not None
    except OSError:  # an unreadable lock file: what run.json says is all there is to show
        return status
    return status if held else STALE


def owner_process(info: dict) -> str:
    """The process run.json says trains the run, in words ("process 123", or "its process")."""
    pid = (info.get("owner") or {}).get("pid")
    return f"process {pid}" if isinstance(pid, int) else "its process"


def remove_run(folder: Path) -> None:
    """Delete a run folder (one stopped before its first checkpoint holds nothing a resume would use)."""
    shutil.rmtree(folder, ignore_errors=True)


def newest_samples(folder: Path) -> Path | None:
    """The run's newest token listing in samples/ (None when there is none): final.txt once the run
    has finished, else the last evaluation's by training order, the phase (in the run's method's
    order) and then the unit. The order comes from the names, which survive copying a run folder
    where modification times do not; a modification time only breaks ties between listings whose
    names say nothing (files put there by hand), which never beat a named one."""
    phases = [phase.name for phase in method_phases(str(read_run_info(folder).get("method")))]

    def training_order(listing: Path) -> tuple[int, int, float]:
        if listing.stem == FINAL_SAMPLES:
            return len(phases), 0, listing.stat().st_mtime
        match = _UNIT_SAMPLES.match(listing.stem)
        if match and match["phase"] in phases:
            return phases.index(match["phase"]), int(match["unit"]), listing.stat().st_mtime
        return -1, 0, listing.stat().st_mtime

    return max((folder / SAMPLES_DIR).glob("*.txt"), key=training_order, default=None)


def append_metrics(folder: Path, record: dict) -> None:
    """Append one JSON line; a crash can at worst lose this line, never damage earlier ones."""
    with open(folder / METRICS_FILE, "a", encoding="utf-8") as stream:
        stream.write(json.dumps(record) + "\n")
        stream.flush()


def read_metrics(folder: Path) -> list[dict]:
    """The run's logged records; damaged lines (cut by a crash, or not a record) are left out."""
    return read_metrics_log(folder)[0]


def read_metrics_log(folder: Path) -> tuple[list[dict], int]:
    """The run's logged records, and how many lines of metrics.jsonl were damaged and left out."""
    return read_json_lines(folder / METRICS_FILE, metrics_record)


def metrics_record(line: bytes) -> dict | None:
    """One line of metrics.jsonl as the trainer writes it (its phase, a known one, and numbers: the
    step an int), or None when it is not one."""
    record = json_object_line(line)
    if record is None or record.get("phase", "mle") not in PHASES:
        return None
    numbers = all(isinstance(value, (int, float)) and not isinstance(value, bool)
                  for key, value in record.items() if key != "phase")
    return record if numbers and isinstance(record.get("step", 0), int) else None


class MetricsTail:
    """Reads a run's metrics.jsonl as it grows, for watching a run another process trains.

    `poll()` returns the records appended since the last poll (complete lines only: a line being
    written is read next time). When the file shrank (a resumed run cut it back to its checkpoint)
    it starts over and `restarted` is True until the next poll.
    """

    def __init__(self, folder: Path) -> None:
        self.path = folder / METRICS_FILE
        self.offset = 0
        self.restarted = False

    def poll(self) -> list[dict]:
        self.restarted = False
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            size = 0
        if size < self.offset:
            self.offset, self.restarted = 0, True
        if size == self.offset:
            return []
        with open(self.path, "rb") as stream:
            stream.seek(self.offset)
            chunk = stream.read(size - self.offset)
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self.offset += len(complete)
        return [record for line in complete.splitlines() if (record := metrics_record(line)) is not None]


def truncate_metrics(folder: Path, lines: int) -> None:
    """Keep the first `lines` records: a resumed run logs again what came after its checkpoint."""
    records = read_metrics(folder)[:lines]
    write_text_atomic(folder / METRICS_FILE, "".join(json.dumps(r) + "\n" for r in records))


@dataclass
class RunsSurvey:
    """Every run under `<home>/checkpoints/`, by name: (run.json, latest metrics) of each readable
    one, the runs whose run.json is damaged, per run the damaged metrics lines left out, and each
    readable run's status as listings show it (`listed_status`)."""

    runs: list[tuple[dict, dict | None]] = field(default_factory=list)
    damaged: list[DamagedItem] = field(default_factory=list)
    damaged_lines: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, str] = field(default_factory=dict)


def survey_runs(home: Path) -> RunsSurvey:
    """Each run's run.json and latest metrics (each key's last logged value: NLLs are logged only
    at evaluations); a damaged run is listed as damaged, never hides the others."""
    root = checkpoints_dir(home)
    survey = RunsSurvey()
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if folder.name.startswith(".") or not (folder / RUN_FILE).is_file():
            continue
        try:
            info = read_run_info(folder)
        except DamagedFileError as error:
            survey.damaged.append(DamagedItem(folder.name, f"{RUN_FILE}: {error.reason}"))
            continue
        records, damaged_lines = read_metrics_log(folder)
        latest: dict = {}
        for record in records:
            latest.update(record)
        survey.runs.append((info, latest or None))
        survey.statuses[str(info.get("name", folder.name))] = listed_status(folder, info)
        if damaged_lines:
            survey.damaged_lines[str(info.get("name", folder.name))] = damaged_lines
    return survey


def list_runs(home: Path) -> list[tuple[dict, dict | None]]:
    """(run.json, latest metrics) of every readable run under `<home>/checkpoints/`, by name."""
    return survey_runs(home).runs


def listed_runs(home: Path) -> list[dict]:
    """Each readable run's run.json with its status as listings show it (a stale `running`: STALE)."""
    survey = survey_runs(home)
    return [{**info, "status": survey.statuses.get(str(info.get("name")), info.get("status", "?"))}
            for info, _ in survey.runs]


def create_run_folder(home: Path, name: str, info: dict, config_toml: str) -> Path:
    """A new run's folder with its config and run.json; an existing run is never overwritten."""
    folder = run_dir(home, name)
    check_no_case_twin(folder.parent, name, "run")
    if folder.exists():
        raise SeqganError(f"run {name!r} already exists in {folder.parent}: pick another --run name, or --resume {name}")
    folder.mkdir(parents=True)
    try:
        write_text_atomic(folder / CONFIG_FILE, config_toml)
        write_run_info(folder, {**info, "name": name, "created": now(), "status": "created"})
    except BaseException:  # a full disk, a Ctrl-C: a run whose files could not be written is no run
        remove_run(folder)
        raise
    return folder
