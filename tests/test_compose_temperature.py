"""A packed model's own compose temperature (`pack --temperature`): compose samples at it when no
--temperature is given, an explicit one wins, a run composes at 1.0, and a bad value is refused in
one line when packing and when loading."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from seqgan_music.cli import app


def invoke(*arguments: str):
    return CliRunner().invoke(app, [str(argument) for argument in arguments])


def composed(model: Path | str, out: Path, home: Path, *options: str) -> tuple[dict, bytes]:
    """The sidecar and MIDI bytes of one tune composed with seed 3."""
    result = invoke("compose", "--run", model, "--n", "1", "--seed", "3", "--format", "mid", "--out", out,
                    "--home", home, *options)
    assert result.exit_code == 0, result.output
    return json.loads(next(out.glob("*.json")).read_text()), next(out.glob("*.mid")).read_bytes()


def test_compose_uses_the_packed_models_temperature_unless_one_is_asked(window_model: Path, tmp_path: Path) -> None:
    home = window_model.parent
    packed = tmp_path / "cool"
    result = invoke("pack", "tiny", "--out", packed, "--temperature", "0.7", "--home", home)
    assert result.exit_code == 0, result.output
    assert json.loads((packed / "model.json").read_text())["compose"] == {"temperature": 0.7}
    own, own_bytes = composed(packed, tmp_path / "own", home)
    asked, asked_bytes = composed(packed, tmp_path / "asked", home, "--temperature", "0.7")
    hot, hot_bytes = composed(packed, tmp_path / "hot", home, "--temperature", "1.3")
    run, _ = composed("tiny", tmp_path / "run", home)
    assert own["temperature"] == asked["temperature"] == 0.7 and own_bytes == asked_bytes
    assert hot["temperature"] == 1.3 and hot_bytes != own_bytes
    assert run["temperature"] == 1.0
    assert "--temperature 0.7" in own["command"]  # the command that recomposes it names the value used


def test_a_bad_temperature_is_refused_when_packing_and_when_loading(window_model: Path, tmp_path: Path) -> None:
    home = window_model.parent
    for value in ("0", "-1", "nan"):
        result = invoke("pack", "tiny", "--out", tmp_path / "bad", "--temperature", value, "--home", home)
        assert result.exit_code == 1 and "--temperature must be a number above 0" in result.output
        assert "Traceback" not in result.output and not (tmp_path / "bad").exists()
    damaged = tmp_path / "damaged"
    shutil.copytree(window_model, damaged)
    info = json.loads((damaged / "model.json").read_text())
    (damaged / "model.json").write_text(json.dumps(info | {"compose": {"temperature": "hot"}}))
    result = invoke("compose", "--run", damaged, "--n", "1", "--out", tmp_path / "out", "--home", home)
    assert result.exit_code == 1 and "compose temperature 'hot' is not above 0" in result.output
    assert "Traceback" not in result.output
