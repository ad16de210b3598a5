"""`corpus build midi --engine ray`: the same per-file work as Ray tasks on a local Ray cluster gives
the corpus the local process pool gives, hostile files listed with their reasons. Runs only where ray
is installed (it is not a dependency; CI has no ray)."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_ingest_hostile import BOMB, tune, write_tune

pytestmark = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                reason="ray is not installed (pip install ray to run the Ray engine's tests)")


def corpus_files(folder: Path) -> dict:
    """A saved corpus's arrays and JSON files, the build's timings left out."""
    with np.load(folder / "tokens.npz", allow_pickle=False) as arrays:
        found = {name: arrays[name].tolist() for name in arrays.files}
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    del manifest["built"], manifest["build_seconds"], manifest["source"]["path"]
    return {**found, "manifest": manifest, "tunes": (folder / "tunes.json").read_text("utf-8"),
            "vocab": (folder / "vocab.json").read_text("utf-8")}


def test_the_ray_engine_builds_the_corpus_the_process_pool_builds(tmp_path):
    tunes = tmp_path / "tunes"
    for index in range(8):
        write_tune(tunes / f"reel{index}.mid", tune(index))
    (tunes / "bomb.mid").write_bytes(BOMB)
    (tunes / "noise.mid").write_bytes(bytes(range(256)) * 4)
    built = {}
    for engine in ("processes", "ray"):
        home = tmp_path / engine
        # Not test_ingest_hostile's `cli`: its address-space cap leaves no room for Ray's processes.
        result = subprocess.run([sys.executable, "-m", "seqgan_music", "corpus", "build", "midi", str(tunes),
                                 "--name", "c", "--engine", engine, "--workers", "2", "--home", str(home)],
                                capture_output=True, text=True, timeout=300, check=False,
                                env={**os.environ, "NO_COLOR": "1", "RAY_ADDRESS": ""})
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Traceback" not in result.stdout + result.stderr
        built[engine] = corpus_files(home / "corpora" / "c")
    assert built["ray"] == built["processes"]
    assert built["ray"]["manifest"]["counts"]["tunes"] == 8
    assert {s["path"] for s in built["ray"]["manifest"]["skipped"]} == {"bomb.mid", "noise.mid"}
