"""The relaxed-token methods' shared parts and gsgan: Gumbel-max draws follow the softmax, the relaxed
weights and their schedule, the GAN losses and the gradient penalty at interpolates, D's loss reaching
every generator parameter, and a gsgan run from the command line."""

import math
from pathlib import Path

import pytest
import torch

from seqgan_music.config import apply_overrides, preset
from seqgan_music.corpora.grammar import build_grammar_corpus
from seqgan_music.models.discriminator import Discriminator
from seqgan_music.models.generator import Generator
from seqgan_music.training.adversarial_losses import discriminator_loss, generator_loss, gradient_penalty
from seqgan_music.training.estimators import gumbel_max_tokens
from seqgan_music.training.launch import start_run
from seqgan_music.training.relaxed_sequences import beta_at, one_hot, relaxed_sequences
from training_helpers import TINY, train_generate_evaluate

VOCAB, LENGTH, END, PAD = 6, 5, 4, 5


def tiny_generator(seed: int = 0) -> Generator:
    torch.manual_seed(seed)
    return Generator(VOCAB, 4, 8, end_token=END, pad_token=PAD)


def test_gumbel_max_draws_follow_the_generators_softmax():
    """Pearson's chi-square over 20,000 first tokens against the softmax of the first step's logits:
    a sampler off by a few percent on any token fails (p < 1e-6 at this size), a right one passes."""
    generator = tiny_generator()
    with torch.no_grad():
        generator.output.bias.copy_(torch.tensor([1.5, 0.5, 0.0, -0.5, -1.0, 0.2]))
        logits, _ = generator.step(torch.full((1,), generator.start_token), generator.initial_state(1))
    expected = torch.softmax(logits[0].double(), dim=0) * 20_000
    u = torch.rand((20_000, 1, VOCAB), generator=torch.Generator().manual_seed(5))
    counts = torch.bincount(gumbel_max_tokens(generator, u)[:, 0], minlength=VOCAB).double()
    chi_square = float(((counts - expected).square() / expected).sum())
    assert chi_square < 35.9, (counts, expected)  # the 1e-6 quantile of chi-square with 5 degrees of freedom
    shifted = counts.roll(1)  # the same counts on the wrong tokens: a sampler that is off must fail
    assert float(((shifted - expected).square() / expected).sum()) > 35.9


def test_relaxed_weights_are_on_the_simplex_and_sharpen_to_the_drawn_tokens():
    generator = tiny_generator()
    soft = relaxed_sequences(generator, 64, LENGTH, 1.0, torch.Generator().manual_seed(1))
    sharp = relaxed_sequences(generator, 64, LENGTH, 1000.0, torch.Generator().manual_seed(1))
    assert torch.equal(soft.tokens, sharp.tokens)  # beta changes what D reads, never what was drawn
    for relaxed in (soft, sharp):
        assert torch.allclose(relaxed.weights.sum(-1), torch.ones(64, LENGTH))
    assert torch.equal(sharp.weights.argmax(-1), sharp.tokens)
    distance = {beta: float((relaxed.weights - one_hot(relaxed.tokens, VOCAB)).abs().detach().mean())
                for beta, relaxed in ((1, soft), (1000, sharp))}
    assert distance[1000] < 0.01 < 0.1 < distance[1], distance


def test_straight_through_shows_d_the_one_hot_tokens_with_the_relaxations_gradient():
    generator = tiny_generator()
    straight = relaxed_sequences(generator, 32, LENGTH, 1.0, torch.Generator().manual_seed(2), straight_through=True)
    assert torch.allclose(straight.weights.detach(), one_hot(straight.tokens, VOCAB), atol=1e-6, rtol=0)
    gradient = torch.autograd.grad((straight.weights * torch.randn(32, LENGTH, VOCAB)).sum(), generator.output.weight)[0]
    assert float(gradient.abs().sum()) > 0


def test_positions_after_the_end_token_hold_the_pad_without_gradient():
    generator = tiny_generator()
    with torch.no_grad():
        generator.output.bias[END] = 2.0  # most rows end early
    relaxed = relaxed_sequences(generator, 64, LENGTH, 1.0, torch.Generator().manual_seed(3))
    after_end = generator.token_mask(relaxed.tokens) == 0
    assert bool(after_end.any()) and bool((relaxed.tokens[after_end] == PAD).all())
    assert torch.equal(relaxed.weights[after_end], one_hot(torch.full((int(after_end.sum()),), PAD), VOCAB))
    reference = generator.sample(64, LENGTH, generator=torch.Generator().manual_seed(3))
    assert bool((reference[generator.token_mask(reference) == 0] == PAD).all())  # as Generator.sample pads


def test_beta_schedules_rise_from_one_to_the_maximum():
    assert [beta_at("constant", 100.0, step, 10) for step in (0, 5, 10)] == [100.0, 100.0, 100.0]
    assert [beta_at("linear", 101.0, step, 10) for step in (0, 5, 10)] == [1.0, 51.0, 101.0]
    assert [beta_at("exponential", 100.0, step, 10) for step in (0, 5, 10)] == pytest.approx([1.0, 10.0, 100.0])
    assert beta_at("exponential", 100.0, 20, 10) == pytest.approx(100.0)  # resumed past the end: held at the maximum
    with pytest.raises(ValueError):
        beta_at("cosine", 100.0, 1, 10)


@pytest.mark.parametrize(("kind", "d_expected", "g_expected"), [
    ("standard", math.log1p(math.exp(-2.0)) + math.log1p(math.exp(-1.0)), math.log1p(math.exp(1.0))),
    ("relativistic", math.log1p(math.exp(-3.0)), math.log1p(math.exp(3.0))),
    ("hinge", 0.0 + 0.0, 1.0),
    ("wasserstein", -1.0 - 2.0, 1.0),
])
def test_gan_losses_on_known_logits(kind: str, d_expected: float, g_expected: float):
    real, fake = torch.tensor([2.0]), torch.tensor([-1.0])
    assert float(discriminator_loss(kind, real, fake)) == pytest.approx(d_expected)
    assert float(generator_loss(kind, real, fake)) == pytest.approx(g_expected)


def test_the_gradient_penalty_is_taken_at_interpolates_between_real_and_generated():
    """critic(x) = |x|^2 / 2 has gradient x, so the penalty is (|x^| - 1)^2 at the interpolate x^ itself:
    at the real point or the generated one it would be another number."""
    real = torch.zeros(3, 2, 4)
    real[:, :, 0] = 1.0
    fake = torch.full((3, 2, 4), 0.25)
    penalty = gradient_penalty(lambda x: 0.5 * x.square().flatten(1).sum(1), real, fake,
                               torch.Generator().manual_seed(7)).detach()
    mix = torch.rand((3, 1, 1), generator=torch.Generator().manual_seed(7))
    at_interpolates = ((mix * real + (1 - mix) * fake).flatten(1).norm(dim=1) - 1).square().mean()
    assert float(penalty) == pytest.approx(float(at_interpolates))
    at_real = (real.flatten(1).norm(dim=1) - 1).square().mean()
    at_fake = (fake.flatten(1).norm(dim=1) - 1).square().mean()
    assert float(penalty) not in (pytest.approx(float(at_real)), pytest.approx(float(at_fake)))


def test_ds_loss_reaches_every_generator_parameter_through_the_gumbel_softmax():
    generator = tiny_generator()
    discriminator = Discriminator(VOCAB, LENGTH, 4, (1, 2), (3, 3))
    relaxed = relaxed_sequences(generator, 32, LENGTH, 2.0, torch.Generator().manual_seed(4))
    loss = generator_loss("standard", discriminator(torch.zeros(32, LENGTH, dtype=torch.long)), discriminator(relaxed.weights))
    gradients = torch.autograd.grad(loss, list(generator.parameters()))
    names = [name for name, _ in generator.named_parameters()]
    reached = {name: float(g.abs().sum()) > 0 for name, g in zip(names, gradients)}
    assert all(reached.values()), reached


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("home")
    build_grammar_corpus("grammar", 15, count=200, seed=1).save(folder)
    return folder


def test_a_gsgan_step_moves_the_generator_down_ds_loss(home: Path):
    config = apply_overrides(preset("quick"), [*TINY, "mle.epochs=1", "adversarial.rounds=1", "run.threads=1",
                                               "run.method=gsgan", "relaxed_gan.generator_learning_rate=0.003",
                                               "gumbel.schedule=constant", "gumbel.beta_max=2"])
    trainer = start_run(home, "grammar", config, "step")
    method = trainer.method
    trainer.discriminator.eval()  # no dropout: the two losses below see the same D
    before = {name: p.detach().clone() for name, p in trainer.generator.named_parameters()}
    check = torch.Generator().manual_seed(11)
    loss_before = float(method.surrogate(check, training=False)[0])
    for _ in range(5):
        metrics = method.generator_step()
    assert metrics["beta"] >= 1.0 and math.isfinite(metrics["g_loss"])
    moved = [name for name, p in trainer.generator.named_parameters() if not torch.equal(p, before[name])]
    assert "output.weight" in moved and any(name.startswith("lstm") for name in moved)
    loss_after = float(method.surrogate(torch.Generator().manual_seed(11), training=False)[0])
    assert loss_after < loss_before  # D held fixed: the generator climbed its score
    assert method.generator_steps == 5


def test_train_generate_and_evaluate_gsgan_from_the_command_line(home: Path, tmp_path: Path):
    settings = [*TINY, "mle.epochs=2", "adversarial.rounds=3", "adversarial.eval_every=1", "adversarial.d_steps=2",
                "run.threads=1", "gumbel.beta_max=10"]
    records, _ = train_generate_evaluate(home, "gsgan", "gs", settings, tmp_path / "out")
    assert [r["phase"] for r in records if r["phase"] != "mle"] == ["adversarial"] * 3  # no D pre-training
    betas = [r["beta"] for r in records if r["phase"] == "adversarial"]
    assert betas == pytest.approx([1.0, 10 ** (1 / 3), 10 ** (2 / 3)])  # the exponential schedule, step by step
    assert all(math.isfinite(r["d_loss"]) and 0 <= r["d_accuracy"] <= 1 for r in records if r["phase"] == "adversarial")
