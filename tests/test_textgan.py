"""textgan: the kernel MMD (zero for one set against itself, symmetric, growing with the distance between
the sets, blind to their common scale), D's feature-matching loss reaching every generator parameter
and falling under generator steps against a fixed D, the soft-argmax batches, its settings, and a run
from the command line."""

import math
from pathlib import Path

import pytest
import torch

from seqgan_music.config import (apply_overrides, config_from_dict, config_from_toml, config_to_dict, config_to_toml,
                                 preset)
from seqgan_music.corpora.grammar import build_grammar_corpus
from seqgan_music.errors import SeqganError
from seqgan_music.training.feature_matching import mmd_squared
from seqgan_music.training.launch import start_run
from seqgan_music.training.relaxed_sequences import one_hot
from training_helpers import TINY, train_generate_evaluate

BANDWIDTHS = (0.5, 1.0, 2.0)


def gaussian(shift: float, seed: int, rows: int = 200, width: int = 8) -> torch.Tensor:
    return torch.randn(rows, width, generator=torch.Generator().manual_seed(seed)) + shift


def test_the_mmd_of_a_set_against_itself_is_zero_and_of_a_fresh_sample_of_it_small():
    x = gaussian(0.0, 1)
    assert float(mmd_squared(x, x, BANDWIDTHS)) == pytest.approx(0.0, abs=1e-6)
    same_distribution = float(mmd_squared(x, gaussian(0.0, 2), BANDWIDTHS))
    assert 0 < same_distribution < 0.1 * float(mmd_squared(x, gaussian(0.5, 2), BANDWIDTHS))


def test_the_mmd_grows_with_the_distance_between_the_sets_and_is_symmetric():
    x = gaussian(0.0, 1)
    values = [float(mmd_squared(x, gaussian(shift, 2), BANDWIDTHS)) for shift in (0.0, 0.25, 0.5, 1.0, 2.0)]
    assert values == sorted(values) and len(set(values)) == len(values), values
    y = gaussian(0.5, 3, rows=150)  # sets of different sizes, too
    assert float(mmd_squared(x, y, BANDWIDTHS)) == pytest.approx(float(mmd_squared(y, x, BANDWIDTHS)), rel=1e-6)


def test_the_bandwidths_follow_the_features_scale():
    """Features 100 times larger (as an unbounded D's may grow) give the same MMD: the kernels are
    sized by the median distance, so they neither flatten to 0 nor saturate at 1."""
    x, y = gaussian(0.0, 1), gaussian(0.5, 2)
    assert float(mmd_squared(100 * x, 100 * y, BANDWIDTHS)) == pytest.approx(float(mmd_squared(x, y, BANDWIDTHS)),
                                                                            rel=1e-4)
    with pytest.raises(ValueError):
        mmd_squared(x, y, [])


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("home")
    build_grammar_corpus("grammar", 15, count=200, seed=1).save(folder)
    return folder


def textgan_trainer(home: Path, run: str, *extra: str):
    config = apply_overrides(preset("quick"), [*TINY, "mle.epochs=1", "adversarial.rounds=1", "run.threads=1",
                                               "run.method=textgan", *extra])
    return start_run(home, "grammar", config, run)


@pytest.mark.parametrize("scale", [10, 1000])
def test_d_reads_the_soft_argmax_of_the_drawn_tokens(home: Path, scale: int):
    trainer = textgan_trainer(home, f"softargmax-{scale}", f"textgan.scale={scale}")
    relaxed = trainer.method.relaxed_batch(torch.Generator().manual_seed(2))
    weights = relaxed.weights.detach()
    assert torch.equal(weights.argmax(-1), relaxed.tokens)  # the drawn tokens, not the greedy ones
    distance = float((weights - one_hot(relaxed.tokens, trainer.generator.vocab_size)).abs().mean())
    assert distance < (1e-3 if scale == 1000 else 0.1)  # TextGAN's L: one-hot but for near ties


def test_the_feature_matching_loss_reaches_every_generator_parameter(home: Path):
    trainer = textgan_trainer(home, "reach", "adversarial.batch_size=64")
    loss, metrics = trainer.method.surrogate(torch.Generator().manual_seed(4), training=False)
    assert metrics["g_loss"] > 0
    names = [name for name, _ in trainer.generator.named_parameters()]
    gradients = torch.autograd.grad(loss, list(trainer.generator.parameters()))
    reached = {name: float(g.abs().sum()) > 0 for name, g in zip(names, gradients)}
    assert all(reached.values()), reached


def test_generator_steps_lower_the_mmd_against_a_fixed_d(home: Path):
    """20 steps take the MMD from .54 to .24 (ascending the same gradient instead takes it to 1.76)."""
    trainer = textgan_trainer(home, "descend", "adversarial.batch_size=64", "relaxed_gan.generator_learning_rate=0.01")
    method = trainer.method
    fixed = {name: p.detach().clone() for name, p in trainer.discriminator.named_parameters()}

    def mmd() -> float:  # over the same five batches of noise each time
        with torch.no_grad():
            return sum(float(method.surrogate(torch.Generator().manual_seed(seed), training=False)[0])
                       for seed in range(5)) / 5

    before = mmd()
    for _ in range(20):
        method.generator_step()
    assert mmd() < 0.8 * before
    assert all(torch.equal(p, fixed[name]) for name, p in trainer.discriminator.named_parameters())


def test_d_trains_by_the_standard_loss_without_a_penalty(home: Path):
    trainer = textgan_trainer(home, "d-step")
    metrics = trainer.method.discriminator_step()
    assert trainer.method.loss == "standard" and "gradient_penalty" not in metrics
    assert math.isfinite(metrics["d_loss"]) and 0 <= metrics["d_accuracy"] <= 1


def test_textgan_settings_read_check_and_round_trip():
    config = apply_overrides(preset("quick"), ["textgan.bandwidths=[1, 2.5]", "textgan.scale=100"])
    assert config.textgan.bandwidths == [1.0, 2.5] and all(isinstance(b, float) for b in config.textgan.bandwidths)
    assert config_from_toml(config_to_toml(config)).textgan == config.textgan
    copy = apply_overrides(config, [])
    copy.textgan.bandwidths.append(4.0)
    assert config.textgan.bandwidths == [1.0, 2.5]  # copies share no list
    for bad in ("textgan.bandwidths=[]", "textgan.bandwidths=[0]", "textgan.bandwidths=[1, nan]",
                "textgan.bandwidths=[true]", "textgan.bandwidths=2", "textgan.scale=0.5", "textgan.scale=inf"):
        with pytest.raises(SeqganError, match=bad.split("=")[0]):
            apply_overrides(preset("quick"), [bad])
    older = config_to_dict(preset("quick"))
    del older["textgan"]  # a run saved before the section existed
    assert config_from_dict(older).textgan == preset("quick").textgan


def test_train_generate_and_evaluate_textgan_from_the_command_line(home: Path, tmp_path: Path):
    settings = [*TINY, "mle.epochs=2", "adversarial.rounds=2", "adversarial.eval_every=1", "adversarial.d_steps=2",
                "run.threads=1", "textgan.bandwidths=[1.0, 2.0]"]
    records, _ = train_generate_evaluate(home, "textgan", "tg", settings, tmp_path / "out")
    assert "bandwidths = [1.0, 2.0]" in (home / "checkpoints" / "tg" / "config.toml").read_text()
    adversarial = [r for r in records if r["phase"] == "adversarial"]
    assert [r["phase"] for r in records if r["phase"] != "mle"] == ["adversarial"] * 2  # no D pre-training
    assert all(r["g_loss"] >= 0 and math.isfinite(r["d_loss"]) for r in adversarial)
