"""wgan: the critic reads the generator's softmax outputs, its loss reaches every generator parameter,
the gradient penalty enters the critic's loss at its weight, the critic has no dropout, and a wgan run
from the command line."""

import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from seqgan_music.config import apply_overrides, preset
from seqgan_music.corpora.grammar import build_grammar_corpus
from seqgan_music.training.adversarial_losses import gradient_penalty
from seqgan_music.training.build import build_discriminator
from seqgan_music.training.launch import start_run
from seqgan_music.training.methods import relaxed_gan
from seqgan_music.training.methods.wgan import WGAN
from seqgan_music.training.relaxed_sequences import one_hot
from training_helpers import TINY, train_generate_evaluate


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("home")
    build_grammar_corpus("grammar", 15, count=200, seed=1).save(folder)
    return folder


def wgan_trainer(home: Path, run: str, *extra: str):
    config = apply_overrides(preset("quick"), [*TINY, "mle.epochs=1", "adversarial.rounds=1", "run.threads=1",
                                               "run.method=wgan", *extra])
    return start_run(home, "grammar", config, run)


def test_the_critic_reads_the_softmax_outputs_along_the_drawn_path(home: Path):
    trainer = wgan_trainer(home, "softmax")
    relaxed = trainer.method.relaxed_batch(torch.Generator().manual_seed(3))
    generator = trainer.generator
    kept = generator.token_mask(relaxed.tokens) > 0  # (B, T): up to the end token
    with torch.no_grad():
        log_probs = torch.log_softmax(generator(generator.shift_right(relaxed.tokens))[0], dim=-1)
        weights = relaxed.weights.detach()
    assert torch.allclose(weights[kept], log_probs.exp()[kept], atol=1e-6)  # p_t itself: beta 1, no noise
    assert float((weights[kept] - one_hot(relaxed.tokens, generator.vocab_size)[kept]).abs().sum()) > 1.0


def test_the_critics_loss_reaches_every_generator_parameter(home: Path):
    trainer = wgan_trainer(home, "reach")
    loss, metrics = trainer.method.surrogate(torch.Generator().manual_seed(4), training=False)
    assert math.isfinite(metrics["g_loss"])
    names = [name for name, _ in trainer.generator.named_parameters()]
    gradients = torch.autograd.grad(loss, list(trainer.generator.parameters()))
    reached = {name: float(g.abs().sum()) > 0 for name, g in zip(names, gradients)}
    assert all(reached.values()), reached


def test_the_critic_is_one_function_without_dropout(home: Path):
    trainer = wgan_trainer(home, "dropout", "discriminator.dropout_keep=0.5")
    critic = trainer.discriminator
    assert critic.training  # in training mode, as it is when its steps are taken
    real = trainer.train_data[:16]
    assert torch.equal(critic(real), critic(real))


def test_the_critic_starts_near_1_lipschitz_on_a_large_vocabulary():
    """The penalty at a first batch (2,000 tokens): about 0.75 for the critic, where the SeqGAN reference's
    embedding (uniform in [-1, 1]) gives 16 to 24; on the oracle's 5,000 tokens it gave 7,780."""
    config = apply_overrides(preset("quick"), TINY)
    vocab, length = 2000, 15
    corpus = SimpleNamespace(vocabulary=range(vocab), length=length)
    noise = torch.Generator().manual_seed(0)
    real = one_hot(torch.randint(vocab, (32, length), generator=noise), vocab)
    fake = torch.softmax(torch.randn(32, length, vocab, generator=noise), dim=-1)
    penalties = {}
    for name, build in (("critic", WGAN.build_discriminator), ("reference", build_discriminator)):
        torch.manual_seed(0)
        model = build(corpus, config, length).eval()
        penalties[name] = float(gradient_penalty(model, real, fake, torch.Generator().manual_seed(1)).detach())
    assert penalties["critic"] < 2.0 and penalties["reference"] > 10.0, penalties


def test_the_gradient_penalty_enters_the_critics_loss_at_its_weight(home: Path, monkeypatch):
    """The same batch (the same noise) with lambda 0 and lambda 10: the loss the critic descends differs by
    10 x the penalty. The descent is recorded, not taken, so both see the same critic."""
    trainer = wgan_trainer(home, "penalty")
    method = trainer.method
    descended: list[float] = []
    monkeypatch.setattr(relaxed_gan, "descend", lambda loss, *_: descended.append(float(loss.detach())))
    start = trainer.sampling.get_state()
    method.config.relaxed_gan.gradient_penalty = 0.0
    without = method.discriminator_step()
    trainer.sampling.set_state(start)
    method.config.relaxed_gan.gradient_penalty = 10.0
    with_penalty = method.discriminator_step()
    assert "gradient_penalty" not in without and with_penalty["d_loss"] == without["d_loss"]  # the same batch
    assert descended[0] == pytest.approx(without["d_loss"])
    assert with_penalty["gradient_penalty"] > 0
    assert descended[1] - descended[0] == pytest.approx(10.0 * with_penalty["gradient_penalty"], rel=1e-5)


def test_the_optimizers_are_wgan_gps_adam(home: Path):
    trainer = wgan_trainer(home, "adam")
    for optimizer in (trainer.method.generator_optimizer, trainer.method.discriminator_optimizer):
        assert all(group["betas"] == (0.5, 0.9) and group["lr"] == 1e-4 for group in optimizer.param_groups)


def test_train_generate_and_evaluate_wgan_from_the_command_line(home: Path, tmp_path: Path):
    settings = [*TINY, "mle.epochs=2", "adversarial.rounds=2", "adversarial.eval_every=1", "adversarial.d_steps=2",
                "run.threads=1"]
    records, _ = train_generate_evaluate(home, "wgan", "wg", settings, tmp_path / "out")
    adversarial = [r for r in records if r["phase"] == "adversarial"]
    assert [r["phase"] for r in records if r["phase"] != "mle"] == ["adversarial"] * 2  # no D pre-training
    assert all(r["gradient_penalty"] >= 0 and math.isfinite(r["d_loss"]) for r in adversarial)
