"""Compose benchmark: `seqgan-music compose --n 8 --format mid,abc,wav` with the shipped default model,
run as a user runs it (a fresh process, from an empty folder outside the repository), end to end.

The target is under 10 seconds on the project's 2-core CPU. Prints each repeat and the median.

    python benchmarks/compose_speed.py [--repeats 3] [--formats mid,abc,wav]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 10.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--formats", default="mid,abc,wav")
    args = parser.parse_args()
    command = shutil.which("seqgan-music", path=str(Path(sys.executable).parent)) or "seqgan-music"
    print(f"machine: {platform.node()}, {os.cpu_count()} CPUs; compose --n 8 --format {args.formats}")
    times = []
    for repeat in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="seqgan-compose-bench-") as folder:
            started = time.perf_counter()
            subprocess.run([command, "compose", "--n", "8", "--seed", str(repeat), "--format", args.formats],
                           cwd=folder, check=True, stdout=subprocess.DEVNULL)
            times.append(time.perf_counter() - started)
            written = len(list((Path(folder) / "tunes").iterdir()))
        print(f"  repeat {repeat + 1}: {times[-1]:.2f} s, {written} files")
    median = statistics.median(times)
    verdict = "meets" if median < TARGET_SECONDS else "MISSES"
    print(f"median {median:.2f} s: {verdict} the {TARGET_SECONDS:.0f} s target")


if __name__ == "__main__":
    main()
