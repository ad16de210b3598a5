"""compose --interpolate A B: real Nottingham tunes read as the model read its training windows, the
path's codes are the straight line (VAE) or the great circle (ARAE, unit codes) between A's and B's
codes, its ends decode to the model's reconstructions of A and B, the tunes are written in order
with sidecars naming A, B, t and the model, and bad requests are one-line errors."""

from __future__ import annotations

import json
import math
import shlex
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from seqgan_music.cli import app
from seqgan_music.composing.compose import ComposeSettings, constraints_for
from seqgan_music.composing.continuation import bar_layout, continue_prefix
from seqgan_music.composing.interpolation import interpolate_tunes, path_codes, tune_codes, tune_window
from seqgan_music.composing.meters import bar_steps
from seqgan_music.composing.model import load_model
from seqgan_music.composing.source_tune import read_source_tune
from seqgan_music.config import apply_overrides, preset
from seqgan_music.corpora.encodings import BAR, music_encoding
from seqgan_music.corpora.midi import read_midi_melody
from seqgan_music.corpora.music import build_music_corpus
from seqgan_music.corpora.split import SplitPlan
from seqgan_music.errors import SeqganError
from seqgan_music.training.launch import start_run
from test_latent_compose import LATENT
from test_tune_training import tune_home
from training_helpers import TINY

runner = CliRunner()
TUNES = 24  # Nottingham files the tiny models learn from
GREEDY = ComposeSettings()


def invoke(home: Path, *args: str):
    return runner.invoke(app, [*args, "--home", str(home)])


@pytest.fixture(scope="module")
def notts(shared_data, tmp_path_factory) -> tuple[Path, list[Path]]:
    """A grid16 corpus (windows of 64 tokens) of the first TUNES Nottingham MIDI files, a vae run and
    an arae run trained on it for three epochs, and the files of its training tunes."""
    folder = shared_data / "nottingham" / "MIDI"
    files = sorted(folder.glob("*.mid"))[:TUNES]
    if len(files) < TUNES:
        pytest.skip(f"Nottingham MIDI files not found at {folder}")
    home = tmp_path_factory.mktemp("interpolate")
    corpus = build_music_corpus("notts", [read_midi_melody(f, f.name) for f in files], music_encoding("grid16", 64),
                                SplitPlan(), {"kind": "midi"})
    corpus.save(home)
    for method, extra in LATENT.items():
        config = apply_overrides(preset("quick"), [*TINY, "mle.epochs=3", "mle.batch_size=16", "run.threads=1",
                                                   "run.eval_samples=4", "run.samples=1", f"run.method={method}",
                                                   *extra])
        assert start_run(home, "notts", config, method).run() == "finished"
    trained = [files[i] for i, record in enumerate(corpus.tunes) if record["split"] == "train"]
    return home, trained


def first_window(home: Path, name: str) -> list[int]:
    """The corpus's first training window of the tune from file `name`."""
    from seqgan_music.corpora.corpus import load_corpus

    corpus = load_corpus(home, "notts")
    index = next(i for i, record in enumerate(corpus.tunes) if record["source"] == name)
    row = list(corpus.tune_of_window["train"]).index(index)
    return [int(t) for t in corpus.splits["train"][row]]


def reconstruction(model, code: torch.Tensor, meter: str, bars: int, settings: ComposeSettings) -> list[str]:
    """What the model writes from `code`: `bars` bars of `meter` under compose's constraints, greedily
    (no temperature) or sampled with the settings' seed."""
    layout = [BAR if bar else None for bar in bar_layout([], bar_steps(meter), bars, None)]
    constraints, _ = constraints_for(model, layout, meter, settings)
    greedy = settings.temperature is None
    row = continue_prefix(model.generator, [], constraints, 1, 1.0 if greedy else settings.temperature,
                          1 if greedy else None, torch.Generator().manual_seed(settings.seed), codes=code.unsqueeze(0))
    return [model.vocabulary.token(int(t)) for t in row[0]]


def spread_codes(model, monkeypatch, start: torch.Tensor, end: torch.Tensor) -> None:
    """The tiny models' encoders put every tune near one code and their decoders barely read it:
    encode A and B as `start` and `end`, and let the code set the decoder's state strongly enough
    that another code writes other tokens."""
    monkeypatch.setattr(model.generator, "encode", lambda rows: torch.stack([start, end])[:len(rows)])
    weight = model.generator.code_to_state.weight
    with torch.no_grad():
        weight.copy_(torch.randn(weight.shape, generator=torch.Generator().manual_seed(0)))


def test_vae_tunes_are_read_as_training_windows_and_walked_on_a_line_from_a_to_bs_reconstruction(notts, monkeypatch):
    home, files = notts
    model = load_model(home, "vae")
    a, b = read_source_tune(files[0], "A"), read_source_tune(files[1], "B")
    windows = [tune_window(model, tune, role) for tune, role in ((a, "A"), (b, "B"))]
    for window, file in zip(windows, files):
        assert window.ids == first_window(home, file.name) and window.cut  # real tunes are longer than 64 tokens
    means = model.generator.posterior(torch.tensor([w.ids for w in windows]))[0]
    assert torch.allclose(tune_codes(model.generator, windows), means)
    start, end = torch.full((4,), 2.0), torch.tensor([-2.0, 1.0, -2.0, 0.0])
    spread_codes(model, monkeypatch, start, end)
    bars = max(w.bars for w in windows)
    for settings in (GREEDY, replace(GREEDY, temperature=1.0, seed=3)):
        tunes = interpolate_tunes(model, a, b, 5, settings)
        assert [t.provenance["interpolation"]["t"] for t in tunes] == [0.0, 0.25, 0.5, 0.75, 1.0]
        for tune, t in zip(tunes, (0.0, 0.25, 0.5, 0.75, 1.0)):
            assert torch.allclose(torch.tensor(tune.provenance["interpolation"]["code"]), (1 - t) * start + t * end,
                                  atol=1e-5)
        for tune, code, source in ((tunes[0], start, a), (tunes[-1], end, b)):
            assert tune.tokens == reconstruction(model, code, source.melody.meter, bars, settings)
            assert tune.melody.meter == source.melody.meter
    assert reconstruction(model, start, a.melody.meter, bars, settings) != \
        reconstruction(model, end, a.melody.meter, bars, settings)  # the code reaches the tokens


def test_arae_codes_move_on_the_unit_sphere_by_equal_angles(notts, monkeypatch):
    home, files = notts
    model = load_model(home, "arae")
    a, b = read_source_tune(files[2], "A"), read_source_tune(files[3], "B")
    windows = [tune_window(model, a, "A"), tune_window(model, b, "B")]
    encoded = model.generator.encode(torch.tensor([w.ids for w in windows]))
    assert torch.allclose(encoded.norm(dim=1), torch.ones(2), atol=1e-5)
    start, end = torch.tensor([1.0, 0.0, 0.0, 0.0]), torch.tensor([math.cos(1.745), math.sin(1.745), 0.0, 0.0])
    spread_codes(model, monkeypatch, start, end)  # 100 degrees apart
    tunes = interpolate_tunes(model, a, b, 4, GREEDY)
    codes = torch.tensor([t.provenance["interpolation"]["code"] for t in tunes])
    assert torch.allclose(codes.norm(dim=1), torch.ones(4), atol=1e-5)
    assert torch.allclose(codes[0], start, atol=1e-5) and torch.allclose(codes[-1], end, atol=1e-5)
    angles = [math.acos(min(1.0, float(x @ y))) for x, y in zip(codes, codes[1:])]
    assert angles == pytest.approx([1.745 / 3] * 3, abs=1e-4)  # the great circle, not the chord
    assert all(t.provenance["interpolation"]["path"].startswith("spherical") for t in tunes)
    sampled = replace(GREEDY, temperature=1.0, seed=3)
    tunes = interpolate_tunes(model, a, b, 4, sampled)
    for tune, code in ((tunes[0], start), (tunes[-1], end)):
        assert tune.tokens == reconstruction(model, code, tune.melody.meter, max(w.bars for w in windows), sampled)
    assert tunes[0].tokens != tunes[-1].tokens


def test_path_codes_are_linear_points_or_slerp_points_of_unit_length():
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    assert torch.allclose(path_codes(a, b, 3, spherical=False), torch.tensor([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]))
    half = math.sqrt(0.5)
    assert torch.allclose(path_codes(a, b, 3, spherical=True), torch.tensor([[1.0, 0.0], [half, half], [0.0, 1.0]]))
    assert torch.allclose(path_codes(a, a, 3, spherical=True), a.expand(3, -1))
    with pytest.raises(SeqganError, match="opposite codes"):
        path_codes(a, -a, 3, spherical=True)


def test_the_command_writes_the_tunes_in_order_with_sidecars_naming_a_b_t_and_the_model(notts, tmp_path: Path):
    home, files = notts
    result = invoke(home, "compose", "--interpolate", str(files[0]), str(files[1]), "--run", "vae", "--steps", "3",
                    "--temperature", "1", "--seed", "2", "--format", "mid,abc", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "its opening" in result.output  # the real tunes are longer than the model's windows
    stem = f"{files[0].stem}-to-{files[1].stem}"
    sidecars = [json.loads((tmp_path / f"{stem}-{i}.json").read_text()) for i in (1, 2, 3)]
    assert all((tmp_path / f"{stem}-{i}{suffix}").is_file() for i in (1, 2, 3) for suffix in (".mid", ".abc"))
    for point, sidecar in enumerate(sidecars, start=1):
        path = sidecar["interpolation"]
        assert (path["point"], path["points"], path["t"]) == (point, 3, (point - 1) / 2)
        assert path["a"]["file"] == str(files[0].resolve()) and path["b"]["file"] == str(files[1].resolve())
        assert sidecar["model"]["name"] == "vae" and sidecar["model"]["method"] == "vae"
    again = invoke(home, *shlex.split(sidecars[1]["command"])[1:], "--out", str(tmp_path / "again"))
    assert again.exit_code == 0, again.output
    assert json.loads((tmp_path / "again" / f"{stem}-2.json").read_text())["tokens"] == sidecars[1]["tokens"]
    # a written tune is a tune to interpolate from in turn, read back from its sidecar note for note
    midpoint = read_source_tune(tmp_path / f"{stem}-2.json")
    assert midpoint.melody.notes == read_source_tune(tmp_path / f"{stem}-2.mid").melody.notes


def test_sampling_every_point_with_the_seed_is_reproducible_and_differs_from_greedy(notts):
    home, files = notts
    model = load_model(home, "vae")
    a, b = read_source_tune(files[0], "A"), read_source_tune(files[1], "B")
    hot = replace(GREEDY, temperature=1.5, seed=4)
    first, second = (interpolate_tunes(model, a, b, 2, hot) for _ in range(2))
    assert [t.tokens for t in first] == [t.tokens for t in second]
    assert [t.tokens for t in first] != [t.tokens for t in interpolate_tunes(model, a, b, 2, GREEDY)]


@pytest.fixture(scope="module")
def small_home(tmp_path_factory) -> Path:
    """The 12 short tunes of test_tune_training with a one-epoch vae run."""
    home = tune_home(tmp_path_factory.mktemp("small"))
    config = apply_overrides(preset("quick"), [*TINY, "mle.epochs=1", "mle.batch_size=4", "run.threads=1",
                                               "run.eval_samples=4", "run.samples=1", "run.method=vae", "vae.latent=4"])
    assert start_run(home, "tunes", config, "vae").run() == "finished"
    result = invoke(home, "compose", "--run", "vae", "--n", "2", "--bars", "2", "--seed", "1", "--out",
                    str(home / "composed"))
    assert result.exit_code == 0, result.output
    return home


@pytest.mark.parametrize(("args", "message"), [
    (["--steps", "1", "--run", "vae"], "--steps with --interpolate is the number of tunes on the path"),
    (["--steps", "101", "--run", "vae"], "2-100, got 101"),
    ([], "needs a model with an encoder, a vae or arae run"),
    (["--run", "vae", "--bars", "4"], "--bars does not apply to --interpolate"),
    (["--run", "vae", "--fill", "2", "--from", "x.mid"], "--fill does not apply to --interpolate"),
    (["--run", "vae", "--top-k", "3"], "--top-k samples: give --temperature"),
])
def test_bad_requests_are_one_line_errors(small_home: Path, args: list[str], message: str):
    a, b = sorted((small_home / "composed").glob("*.json"))
    result = invoke(small_home, "compose", "--interpolate", str(a), str(b), *args, "--out", str(small_home / "out"))
    assert result.exit_code == 1 and message in result.output, result.output
    assert result.output.strip().count("\n") == 0 and "Traceback" not in result.output
    assert not (small_home / "out").exists()


def test_a_missing_file_is_a_one_line_error_naming_it(small_home: Path):
    a = sorted((small_home / "composed").glob("*.json"))[0]
    result = invoke(small_home, "compose", "--interpolate", str(a), str(small_home / "nope.mid"), "--run", "vae",
                    "--out", str(small_home / "out"))
    assert result.exit_code == 1 and "B " in result.output and "nope.mid: no such file" in result.output
    assert result.output.strip().count("\n") == 0 and not (small_home / "out").exists()


def test_a_short_tune_is_read_whole_with_its_end_token(notts, tmp_path: Path):
    home, _ = notts
    result = invoke(home, "compose", "--run", "vae", "--n", "1", "--bars", "2", "--meter", "4/4", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    model = load_model(home, "vae")
    window = tune_window(model, read_source_tune(next(tmp_path.glob("*.json"))), "A")
    assert not window.cut and window.ids[-1] == model.vocabulary.end and window.bars == 2
    assert len(window.ids) == window.total + 1 == 35  # two bars of 4/4: 2 bar lines, 32 steps, the end


def test_greedy_output_says_how_to_sample_instead(small_home: Path, tmp_path: Path):
    a, b = sorted((small_home / "composed").glob("*.json"))
    greedy = invoke(small_home, "compose", "--interpolate", str(a), str(b), "--run", "vae", "--out", str(tmp_path / "g"))
    assert greedy.exit_code == 0 and "decoded greedily" in greedy.output, greedy.output
    assert len(list((tmp_path / "g").glob("*.json"))) == 5  # --steps defaults to 5 points
    hot = invoke(small_home, "compose", "--interpolate", str(a), str(b), "--run", "vae", "--temperature", "1",
                 "--out", str(tmp_path / "t"))
    assert hot.exit_code == 0 and "decoded greedily" not in hot.output, hot.output
