"""arae: decoded samples are valid token sequences, codes lie on the unit sphere, the critic's loss
falls where real and generated codes can be told apart and the code generator climbs the critic,
the NLL estimate is deterministic, settings are checked, and a run from the command line."""

import math
from pathlib import Path

import pytest
import torch

from seqgan_music.config import apply_overrides, preset
from seqgan_music.corpora.grammar import build_grammar_corpus
from seqgan_music.errors import SeqganError
from seqgan_music.models.arae import ARAEGenerator
from seqgan_music.training.budget import check_budget
from seqgan_music.training.launch import start_run
from seqgan_music.training.mle import sequence_nlls
from training_helpers import TINY, train_generate_evaluate


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("home")
    build_grammar_corpus("grammar", 15, count=200, seed=1).save(folder)
    return folder


def arae_config(*extra: str):
    return apply_overrides(preset("quick"), [*TINY, "mle.epochs=2", "adversarial.rounds=2", "adversarial.d_steps=2",
                                             "run.threads=1", "run.method=arae", "arae.code_size=8",
                                             "arae.noise_size=4", "arae.mlp_hidden=16", *extra])


@pytest.fixture(scope="module")
def trained(home: Path):
    trainer = start_run(home, "grammar", arae_config(), "trained")
    assert trainer.run() == "finished"
    return trainer


def test_decoded_samples_are_vocabulary_ids_padded_after_the_end_token():
    # Vocabulary 0..5 with end 4 and pad 5; the start and blank rows (6, 7) must never come out.
    model = ARAEGenerator(6, 8, 16, 1, code_size=8, noise_size=4, mlp_hidden=16, end_token=4, pad_token=5)
    torch.manual_seed(0)
    samples = model.sample(200, 12, generator=torch.Generator().manual_seed(1))
    assert samples.shape == (200, 12) and samples.dtype == torch.long
    assert int(samples.min()) >= 0 and int(samples.max()) < 6
    ended = (samples == 4).long().cumsum(dim=1) - (samples == 4).long() > 0  # after the first end token
    assert ended.any() and bool((samples[ended] == 5).all())
    assert torch.equal(samples, model.sample(200, 12, generator=torch.Generator().manual_seed(1)))


def test_a_trained_run_decodes_generated_codes_into_grammar_tokens(trained):
    generator = trained.generator.eval()
    noise = torch.Generator().manual_seed(5)
    samples = generator.sample(50, trained.length, generator=noise)
    assert int(samples.min()) >= 0 and int(samples.max()) < len(trained.corpus.vocabulary)
    again = torch.Generator().manual_seed(5)
    assert torch.equal(samples, generator.decode(generator.generated_codes(50, again), trained.length, generator=again))


def test_codes_lie_on_the_unit_sphere(trained):
    with torch.no_grad():
        codes = trained.generator.encode(trained.train_data[:20])
    assert codes.shape == (20, 8) and torch.allclose(codes.norm(dim=1), torch.ones(20), atol=1e-5)


def test_the_critics_loss_falls_on_separable_codes(home: Path, monkeypatch):
    trainer = start_run(home, "grammar", arae_config("arae.critic_learning_rate=0.001"), "separable")
    generator = trainer.generator
    real = torch.nn.functional.normalize(torch.randn(16, 8, generator=torch.Generator().manual_seed(0)) * 0.1
                                         + torch.eye(8)[0], dim=1)  # near +e1
    monkeypatch.setattr(generator, "encode", lambda sequences: real[:len(sequences)])
    monkeypatch.setattr(generator, "generated_codes", lambda n, noise: -real[:n])  # near -e1
    losses = [trainer.method.critic_step()["d_loss"] for _ in range(150)]
    assert losses[-1] < losses[0] - 0.5 and losses[-1] < 0  # E[critic(fake)] - E[critic(real)], falling


def test_the_code_generator_climbs_a_fixed_critic(home: Path):
    trainer = start_run(home, "grammar", arae_config("arae.generator_learning_rate=0.001"), "climb")
    critic = trainer.discriminator
    before = {k: v.clone() for k, v in critic.state_dict().items()}
    losses = [trainer.method.generator_step()["g_loss"] for _ in range(30)]
    assert losses[-1] < losses[0]  # minus the critic's mean score of generated codes
    assert all(torch.equal(before[k], v) for k, v in critic.state_dict().items())  # the critic untouched


def test_the_encoder_takes_the_critics_gradient_on_real_codes_at_its_scale(home: Path):
    encoders = []
    for scale in ("0", "100"):
        trainer = start_run(home, "grammar", arae_config(f"arae.encoder_scale={scale}"), f"scale{scale}")
        trainer.method.autoencoder_step()
        encoders.append({k: v.clone() for k, v in trainer.generator.state_dict().items()})
    assert not torch.equal(encoders[0]["encoder.weight_ih_l0"], encoders[1]["encoder.weight_ih_l0"])
    assert torch.equal(encoders[0]["code_generator.0.weight"], encoders[1]["code_generator.0.weight"])


def test_the_nll_estimate_is_deterministic_and_independent_of_the_batch(trained):
    generator, test = trained.generator, trained.test_data
    totals, counts = sequence_nlls(generator, test)
    again, _ = sequence_nlls(generator, test)
    alone, _ = sequence_nlls(generator, test[2:3])
    assert torch.equal(totals, again) and torch.allclose(totals[2:3], alone)
    assert bool(torch.isfinite(totals).all()) and bool((totals > 0).all())


def test_settings_are_checked(home: Path):
    with pytest.raises(SeqganError, match="arae.gradient_penalty"):
        arae_config("arae.gradient_penalty=-1")
    with pytest.raises(SeqganError, match="adversarial.variance_estimates=0"):
        start_run(home, "grammar", arae_config("adversarial.variance_estimates=4"), "variance")
    with pytest.raises(SeqganError, match="generator.lookback=false"):
        start_run(home, "grammar", arae_config("generator.lookback=true"), "lookback")
    check_budget(arae_config(), 5, 15)  # the memory estimate lets a tiny run start


def test_train_generate_and_evaluate_arae_from_the_command_line(home: Path, tmp_path: Path):
    settings = [*TINY, "mle.epochs=2", "adversarial.rounds=2", "adversarial.eval_every=1", "adversarial.d_steps=2",
                "arae.code_size=8", "run.threads=1"]
    records, _ = train_generate_evaluate(home, "arae", "a", settings, tmp_path / "out")
    assert [r["phase"] for r in records] == ["mle", "mle", "adversarial", "adversarial"]
    adversarial = [r for r in records if r["phase"] == "adversarial"]
    assert all(math.isfinite(r["d_loss"]) and r["gradient_penalty"] >= 0 and "reconstruction_nll" in r
               and r["nll_samples"] == 8 for r in adversarial)
    lines = (tmp_path / "out" / "a-seed0.txt").read_text().splitlines()
    assert len(lines) == 3 and all(set(line.split()) <= {"x", "+", "-", "*", "/"} for line in lines)
