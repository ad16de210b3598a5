"""The table `benchmarks/gpu.sh` prints for a training run: seconds per unit of each phase (an MLE
epoch, a D pre-training round, an adversarial round), from the run's metrics.jsonl, and the whole
schedule's time, measured where the run finished and projected from the units done where it was
stopped at its time limit; with PRESET, projected onto that preset's schedule instead (a short run
of the same models gives each phase's pace, the preset says how many units the full run has).

    python benchmarks/gpu_run_table.py HOME RUN [PRESET]
"""

from __future__ import annotations

import sys
from pathlib import Path

from seqgan_music.config import preset
from seqgan_music.phases import PHASES
from seqgan_music.training.methods import method_phases
from seqgan_music.training.runs import read_metrics, read_run_config, read_run_info, run_dir


def phase_seconds(records: list[dict]) -> dict[str, list[float]]:
    """Each phase's unit durations: the differences of consecutive `elapsed` stamps (evaluations,
    which come every eval_every units, and checkpoints included)."""
    durations: dict[str, list[float]] = {}
    previous = 0.0
    for record in records:
        durations.setdefault(record["phase"], []).append(record["elapsed"] - previous)
        previous = record["elapsed"]
    return durations


def main() -> None:
    home, name = Path(sys.argv[1]), sys.argv[2]
    folder = run_dir(home, name)
    config, info = read_run_config(folder), read_run_info(folder)
    schedule = preset(sys.argv[3]) if len(sys.argv) > 3 else config
    durations = phase_seconds(read_metrics(folder))
    print(f"run {name}: preset {config.preset}, method {config.run.method}, device {info.get('device')}, "
          f"status {info.get('status')}")
    print(f"{'phase':<14} {'units done':>10} {'of':>6} {'s per unit':>11} {'phase s':>9}")
    total, complete = 0.0, True
    for phase in method_phases(config.run.method):
        units, done = PHASES[phase.name].units(schedule), durations.get(phase.name, [])
        if not done:
            complete = False
            print(f"{phase.label:<14} {0:>10} {units:>6} {'not reached':>11} {'-':>9}")
            continue
        mean = sum(done) / len(done)
        total += mean * units
        print(f"{phase.label:<14} {len(done):>10} {units:>6} {mean:>11.3f} {mean * units:>9.0f}")
    finished = info.get("status") == "finished" and schedule is config
    what = "measured" if finished else ("projected from the units done" if complete else "a lower bound (phases not reached)")
    print(f"whole {schedule.preset} schedule: {total:.0f} s ({total / 60:.1f} min), {what}")


if __name__ == "__main__":
    main()
