"""Ingest at scale: `seqgan-music corpus build midi` over a folder of 20,000 MIDI files, 1% hostile.

Makes the folder (small real-shaped tunes: a melody track over a chord track, 8 to 32 bars, 4/4,
3/4 or 6/8, a key signature, plus 1% hostile files: truncated, the MIDI bomb, an endless track,
a huge track of silent notes, garbage bytes), then runs the real command in a fresh process at
half and at all of the files, at 1 and at 2 workers. For each run it reports files per second
and the peak memory: the build process's own (VmHWM), its workers' (the RSS of its fork server
and workers, summed) and the whole tree's, sampled every 0.2 s from /proc. It checks that every
hostile file is listed in the manifest with its reason, that no run crashed, and that memory
stays flat as the folder doubles: the workers' peak and the build process's peak at all of the
files each at most FLAT_RATIO times their peak at half. The build process holds no parsed melody
and no corpus: it reads the shards back one at a time and writes the corpus's windows, whole tunes
and tune records to the corpus folder as they come: what grows with the folder is its sorted list
of files and a 16-byte digest a tune (under 1 KB a file, also reported).

    python benchmarks/ingest_scale.py [--files 20000] [--workers 1,2] [--folder DIR]

`--files 2000` is a quick check. `--folder DIR` keeps the generated files there for another run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import mido

HOSTILE_SHARE = 0.01
FLAT_RATIO = 1.25
HOSTILE_KINDS = ("truncated", "bomb", "endless-track", "huge-track", "garbage")
# ticks_per_beat 1 and one note held for 0x0FFFFFFF ticks: 268 million beats from 37 bytes.
BOMB_TRACK = b"\x00\x90\x3c\x40" + b"\xff\xff\xff\x7f\x80\x3c\x40" + b"\x00\xff\x2f\x00"
SCALE = (0, 2, 4, 5, 7, 9, 11)
METERS = ((4, 4, 4.0), (3, 4, 3.0), (6, 8, 3.0))  # numerator, denominator, beats a bar


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20_000, help="files of the larger folder (the smaller has half)")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts to run")
    parser.add_argument("--folder", type=Path, help="make (or reuse) the files here instead of a temporary folder")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    workers = [int(w) for w in args.workers.split(",")]
    print(f"machine: {platform.node()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
          f"{args.files:,} files, {HOSTILE_SHARE:.0%} hostile", flush=True)
    with tempfile.TemporaryDirectory(prefix="seqgan-ingest-bench-") as scratch:
        root = args.folder or Path(scratch) / "midi"
        started = time.perf_counter()
        folders, hostile = make_folders(root, args.files)
        print(f"made the folders in {time.perf_counter() - started:.0f} s: "
              + ", ".join(f"{f.name} ({count:,} files)" for f, count in folders), flush=True)
        runs = []
        for folder, count in folders:
            for worker_count in workers:
                run = build(folder, count, worker_count, Path(scratch) / f"home-{folder.name}-{worker_count}")
                skipped = run.pop("skipped")
                run["hostile_missing"] = [name for name in hostile[folder.name] if name not in skipped]
                runs.append(run)
                print(f"  {count:>7,} files, {worker_count} worker(s): {run['files_per_second']:7.1f} files/s "
                      f"({run['seconds']:.0f} s); peak memory: build process {run['parent_peak_mb']:.0f} MB, "
                      f"workers {run['workers_peak_mb']:.0f} MB, together {run['tree_peak_mb']:.0f} MB; "
                      f"{run['tunes']:,} tunes, skipped {run['skipped_count']} "
                      f"({run['reasons']}); hostile files not listed: {len(run['hostile_missing'])}", flush=True)
    verdict = check(runs, folders, workers)
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "verdict": verdict}, indent=2))
    print(verdict["summary"])
    sys.exit(0 if verdict["passed"] else 1)


def make_folders(root: Path, files: int) -> tuple[list[tuple[Path, int]], dict[str, list[str]]]:
    """`half/` with files // 2 files and `all/` with all of them (the half's files linked, not copied)."""
    half, full = root / "half", root / "all"
    hostile = {"half": [], "all": []}
    for index in range(files):
        name = f"{index // 1000:03d}/tune{index:06d}.mid"
        kind = HOSTILE_KINDS[index // 100 % len(HOSTILE_KINDS)] if index % 100 == 99 else None
        target = full / name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(hostile_file(kind, index) if kind else tune_file(index))
        if kind:
            hostile["all"].append(name)
        if index < files // 2:
            (half / name).parent.mkdir(parents=True, exist_ok=True)
            if not (half / name).exists():
                os.link(target, half / name)
            if kind:
                hostile["half"].append(name)
    return [(half, files // 2), (full, files)], hostile


def tune_file(seed: int) -> bytes:
    """A folk-tune-shaped file: a stepwise melody in eighths and quarters over one chord a bar."""
    rng = random.Random(seed)
    numerator, denominator, bar_beats = rng.choice(METERS)
    ticks = 480
    tonic = rng.randrange(12)
    melody = mido.MidiTrack([mido.MetaMessage("track_name", name=f"Tune {seed}"),
                             mido.MetaMessage("time_signature", numerator=numerator, denominator=denominator),
                             mido.MetaMessage("key_signature", key=("C", "G", "D", "F", "Bb", "A")[tonic % 6]),
                             mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(rng.choice((90, 110, 120))))])
    chords = mido.MidiTrack([mido.Message("program_change", channel=1, program=24)])
    degree, bars = rng.randrange(7), rng.choice((8, 16, 16, 32))
    for _ in range(bars):
        beats = 0.0
        while beats < bar_beats:
            length = min(rng.choice((0.5, 0.5, 0.5, 1.0)), bar_beats - beats)
            degree = max(0, min(13, degree + rng.choice((-2, -1, -1, 1, 1, 2, 0))))
            pitch = 62 + tonic % 5 + 12 * (degree // 7) + SCALE[degree % 7]
            melody.append(mido.Message("note_on", note=pitch, velocity=80, time=0))
            melody.append(mido.Message("note_off", note=pitch, velocity=0, time=int(length * ticks)))
            beats += length
        root = 48 + tonic % 5 + SCALE[rng.choice((0, 3, 4))]
        for note in (root, root + 4, root + 7):
            chords.append(mido.Message("note_on", channel=1, note=note, velocity=60, time=0))
        for offset, note in enumerate((root, root + 4, root + 7)):
            chords.append(mido.Message("note_off", channel=1, note=note, velocity=0,
                                       time=int(bar_beats * ticks) if offset == 0 else 0))
    midi = mido.MidiFile(type=1, ticks_per_beat=ticks)
    midi.tracks.extend([melody, chords])
    with tempfile.SpooledTemporaryFile() as buffer:
        midi.save(file=buffer)
        buffer.seek(0)
        return buffer.read()


def hostile_file(kind: str, seed: int) -> bytes:
    """One of HOSTILE_KINDS; each is unusable, so each must appear in the manifest's skipped list."""
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480)
    if kind == "truncated":
        whole = tune_file(seed)
        return whole[: len(whole) * 3 // 5]
    if kind == "bomb":
        return b"MThd" + struct.pack(">IHHH", 6, 0, 1, 1) + b"MTrk" + struct.pack(">I", len(BOMB_TRACK)) + BOMB_TRACK
    if kind == "endless-track":  # declares a 2 GiB track and ends after a few notes
        return header + b"MTrk" + struct.pack(">I", 0x7FFFFFFF) + b"\x00\x90\x3c\x40\x60\x80\x3c\x40" * 8
    if kind == "huge-track":  # 256 KiB of notes that end where they start: parsed in full, nothing sounds
        events = b"\x00\x90\x3c\x40\x00\x80\x3c\x40" * (1 << 15)
        return header + b"MTrk" + struct.pack(">I", len(events) + 4) + events + b"\x00\xff\x2f\x00"
    return random.Random(seed).randbytes(4096)


def build(folder: Path, count: int, workers: int, home: Path) -> dict:
    """The real command in a fresh process, its process tree's memory sampled meanwhile."""
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    command = [sys.executable, "-m", "seqgan_music", "corpus", "build", "midi", str(folder), "--name", "bench",
               "--workers", str(workers), "--home", str(home)]
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    sampler = MemorySampler(child.pid)
    sampler.start()
    output = child.communicate()[0].decode("utf-8", "replace")
    seconds = time.perf_counter() - started
    sampler.stop()
    if child.returncode != 0:
        raise SystemExit(f"the build of {count} files with {workers} worker(s) failed:\n{output[-3000:]}")
    manifest = json.loads((home / "corpora" / "bench" / "manifest.json").read_text("utf-8"))
    reasons = Counter(_reason_kind(s["reason"]) for s in manifest["skipped"])
    shutil.rmtree(home, ignore_errors=True)
    return {
        "files": count, "workers": workers, "seconds": round(seconds, 1),
        "files_per_second": round(count / seconds, 1),
        "parent_peak_mb": sampler.parent_peak / 2**20, "workers_peak_mb": sampler.workers_peak / 2**20,
        "tree_peak_mb": sampler.tree_peak / 2**20,
        "tunes": manifest["counts"]["tunes"], "skipped_count": len(manifest["skipped"]),
        "reasons": dict(reasons), "skipped": {s["path"] for s in manifest["skipped"]},
    }


def _reason_kind(reason: str) -> str:
    return reason.split(" (")[0].split(":")[0]


class MemorySampler(threading.Thread):
    """Every 0.2 s: the RSS of a process's descendants summed, with the process's own too, and the
    process's VmHWM (its own peak, exact)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.parent_peak = self.workers_peak = self.tree_peak = 0
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(0.2):
            workers = sum(_status(pid, "VmRSS") for pid in _descendants(self.pid))
            self.workers_peak = max(self.workers_peak, workers)
            self.tree_peak = max(self.tree_peak, workers + _status(self.pid, "VmRSS"))
            self.parent_peak = max(self.parent_peak, _status(self.pid, "VmHWM"))

    def stop(self) -> None:
        self.halt.set()
        self.join()


def _descendants(root: int) -> list[int]:
    parents = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, frontier = [], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        tree.extend(frontier)
    return tree


def _status(pid: int, field: str) -> int:
    """A /proc/PID/status memory field in bytes (0 once the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def check(runs: list[dict], folders: list[tuple[Path, int]], workers: list[int]) -> dict:
    crashed = [r for r in runs if r["tunes"] + r["skipped_count"] < r["files"]]
    missing = [r for r in runs if r["hostile_missing"]]
    ratios, parent_ratios, growth = {}, {}, {}
    added = folders[1][1] - folders[0][1]
    for count in workers:
        half, full = (next(r for r in runs if r["files"] == n and r["workers"] == count) for _, n in folders)
        ratios[count] = round(full["workers_peak_mb"] / half["workers_peak_mb"], 2)
        parent_ratios[count] = round(full["parent_peak_mb"] / half["parent_peak_mb"], 2)
        growth[count] = round((full["parent_peak_mb"] - half["parent_peak_mb"]) * 1024 / added, 2)
    flat = all(r <= FLAT_RATIO for r in [*ratios.values(), *parent_ratios.values()])
    passed = not crashed and not missing and flat
    summary = (f"{'PASS' if passed else 'FAIL'}: every hostile file listed with its reason: {not missing}; "
               f"every file read or skipped: {not crashed}; from {folders[0][1]:,} to {folders[1][1]:,} files the "
               "workers' peak memory grew " + ", ".join(f"{r}x at {w} worker(s)" for w, r in ratios.items())
               + " and the build process's " + ", ".join(
                   f"{r}x ({growth[w]} KB a file) at {w} worker(s)" for w, r in parent_ratios.items())
               + f" (flat: at most {FLAT_RATIO}x)")
    return {"passed": passed, "workers_memory_ratios": ratios, "build_process_memory_ratios": parent_ratios,
            "build_process_kb_per_file": growth, "summary": summary}


if __name__ == "__main__":
    main()
