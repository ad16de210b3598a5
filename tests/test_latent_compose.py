"""vae and arae runs wherever a run goes: pack writes their encoder and code generator and loads them
back, compose (from the run or the packed model) decodes each tune from a code drawn with the tune's
seed under the compose constraints, and evaluate marks their NLL_test as an upper bound."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from seqgan_music.cli import app
from seqgan_music.composing.continuation import Constraints, continue_prefix
from seqgan_music.composing.model import load_model
from seqgan_music.config import apply_overrides, preset
from seqgan_music.corpora.grammar import build_grammar_corpus
from seqgan_music.models.arae import ARAEGenerator
from seqgan_music.models.vae import SentenceVAE
from seqgan_music.training.generation import load_trained_run
from seqgan_music.training.launch import start_run
from test_tune_training import tune_home
from training_helpers import TINY

runner = CliRunner()
LATENT = {"vae": ["vae.latent=4"],
          "arae": ["arae.code_size=4", "arae.noise_size=4", "arae.mlp_hidden=8", "adversarial.rounds=1",
                   "adversarial.batch_size=4", "adversarial.d_steps=1"]}
CLASSES = {"vae": SentenceVAE, "arae": ARAEGenerator}


def train_latent_runs(home: Path, corpus: str, prefix: str = "") -> None:
    """A one-epoch vae run and arae run on `corpus`, named by their method after `prefix`."""
    for method, extra in LATENT.items():
        config = apply_overrides(preset("quick"), [*TINY, "mle.epochs=1", "mle.batch_size=4", "run.threads=1",
                                                   "run.eval_samples=4", "run.samples=1", f"run.method={method}",
                                                   *extra])
        assert start_run(home, corpus, config, prefix + method).run() == "finished"


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """A grid16 corpus of 12 short tunes with a vae run and an arae run on it; the same on a toy
    grammar corpus (which has test windows for NLL_test), as g-vae and g-arae."""
    folder = tune_home(tmp_path_factory.mktemp("latent"))
    train_latent_runs(folder, "tunes")
    build_grammar_corpus("grammar", 15, count=60, seed=1).save(folder)
    train_latent_runs(folder, "grammar", "g-")
    return folder


def invoke(home: Path, *args: str):
    return runner.invoke(app, [*args, "--home", str(home)])


@pytest.mark.parametrize("method", list(LATENT))
def test_a_packed_latent_model_loads_with_its_encoder_and_composes_as_its_run(home: Path, method: str):
    packed = home / f"packed-{method}"
    result = invoke(home, "pack", method, "--out", str(packed))
    assert result.exit_code == 0, result.output
    assert json.loads((packed / "model.json").read_text())["generator"]["latent"]["method"] == method
    run, loaded = load_model(home, method), load_model(home, str(packed))
    assert type(loaded.generator) is CLASSES[method]
    for name, weights in run.generator.state_dict().items():  # encoder and code generator included
        assert torch.equal(weights, loaded.generator.state_dict()[name]), name
    sidecars = []
    for source in (method, str(packed)):
        out = home / f"composed-{method}-{Path(source).name}"
        result = invoke(home, "compose", "--run", source, "--n", "2", "--bars", "2", "--seed", "5",
                        "--format", "mid,abc", "--out", str(out))
        assert result.exit_code == 0, result.output
        sidecars.append([json.loads(p.read_text()) for p in sorted(out.glob("*.json"))])
    assert [s["tokens"] for s in sidecars[0]] == [s["tokens"] for s in sidecars[1]]
    for sidecar in sidecars[0]:
        tokens = sidecar["tokens"].split(" ")
        assert tokens.count("BAR") == 2 and len(tokens) == 34  # bar lines forced: two bars of 4/4
    assert sidecars[0][0]["tokens"] != sidecars[0][1]["tokens"]


@pytest.mark.parametrize("method", list(LATENT))
def test_compose_decodes_each_row_from_a_code_drawn_with_the_tunes_seed(home: Path, method: str):
    generator = load_trained_run(home, method).generator
    constraints = Constraints([None] * 12)
    greedy = continue_prefix(generator, [], constraints, 3, top_k=1, noise_source=torch.Generator().manual_seed(9))
    noise = torch.Generator().manual_seed(9)
    codes = generator.prior_codes(3, noise)
    assert torch.equal(greedy, generator.decode(codes, 12, top_k=1))  # the same code, the same greedy tune
    drawn = continue_prefix(generator, [], constraints, 3, noise_source=torch.Generator().manual_seed(9))
    assert torch.equal(drawn, continue_prefix(generator, [], constraints, 3, noise_source=noise, codes=codes))
    other = generator.prior_codes(3, torch.Generator().manual_seed(10))
    logits = [generator(torch.full((3, 1), generator.start_token), generator.state_from(c))[0] for c in (codes, other)]
    assert not torch.allclose(*logits)  # the code reaches the first token's distribution


def test_without_a_state_the_decoder_starts_from_its_code_as_stepping_does(home: Path):
    vae = load_trained_run(home, "vae").generator
    inputs = torch.full((2, 3), vae.start_token)
    codes = vae.prior_codes(2, torch.Generator().manual_seed(1))
    with vae.conditioned_on(codes):
        teacher, _ = vae(inputs)
        stepped, _ = vae.step(inputs[:, 0], vae.initial_state(2))
    allowed = stepped.isfinite()  # stepping also bans whole tunes' tokens
    assert allowed.any() and torch.allclose(teacher[:, 0][allowed], stepped[allowed], atol=1e-6)


def test_evaluate_marks_a_latent_models_nll_test_as_an_upper_bound(home: Path, tmp_path: Path):
    result = invoke(home, "evaluate", "g-vae", "g-arae", "--samples", "4", "--metrics", "nll-test,bleu",
                    "--json", str(tmp_path / "scores.json"), "--device", "cpu")
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "NLL_test" in line)
    assert "NLL_test (bound)" in row and row.count("≤ ") == 2, row
    runs = {r["run"]: r for r in json.loads((tmp_path / "scores.json").read_text())["runs"]}
    assert "importance-weighted over 8 posterior draws" in runs["g-vae"]["nll_test_bound"]  # vae.nll_samples
    assert "generated code" in runs["g-arae"]["nll_test_bound"]
    again = invoke(home, "evaluate", "g-vae", "--samples", "4", "--metrics", "nll-test,bleu", "--device", "cpu")
    assert "cached results reused" in again.output and "≤ " in again.output


def test_a_whole_tune_vae_packs_and_composes_whole_tunes_from_its_prior(tmp_path: Path):
    home = tune_home(tmp_path)
    config = apply_overrides(preset("quick"), [*TINY, "mle.epochs=1", "mle.batch_size=4", "run.threads=1",
                                               "run.eval_samples=4", "run.samples=1", "run.method=vae",
                                               "vae.latent=4", "data.unit=tune"])
    assert start_run(home, "tunes", config, "whole").run() == "finished"
    assert invoke(home, "pack", "whole", "--out", str(home / "packed")).exit_code == 0
    for source in ("whole", str(home / "packed")):
        out = home / f"composed-{Path(source).name}"
        result = invoke(home, "compose", "--run", source, "--n", "2", "--form", "AB", "--part-bars", "2", "--seed", "3",
                        "--out", str(out))
        assert result.exit_code == 0, result.output
        tokens = [json.loads(p.read_text())["tokens"] for p in sorted(out.glob("*.json"))]
        assert all(t.startswith("meter=4/4") and t.count("PART") == 2 for t in tokens)
    assert tokens[0] != tokens[1]
    refused = invoke(home, "compose", "--interpolate", "a.mid", "b.mid", "--run", "whole")
    assert refused.exit_code == 1 and "learned whole tunes" in refused.output
