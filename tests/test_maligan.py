"""MaliGAN: weights D/(1 - D) normalised over the samples sharing a prefix, minus their mean; with
D = 0.5 everywhere the step is MLE on the real prefixes; Algorithm 2's falling prefix; a CLI run."""

import json
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

from seqgan_music.config import MaliGANConfig, apply_overrides, config_from_dict, config_to_dict, preset
from seqgan_music.corpora.grammar import build_grammar_corpus
from seqgan_music.errors import SeqganError
from seqgan_music.models.discriminator import Discriminator
from seqgan_music.models.generator import Generator
from seqgan_music.training.methods.maligan import (
    CLAMP,
    draw_real_rows,
    maligan_surrogate,
    normalised_weights,
    prefix_length,
)
from seqgan_music.training.optimization import descend
from training_helpers import TINY, train_generate_evaluate

VOCAB, LENGTH, END, TARGET = 7, 6, 6, 2


def tiny_generator(seed: int = 0) -> Generator:
    torch.manual_seed(seed)
    return Generator(VOCAB, 4, 8, end_token=END)


def real_rows(rows: int = 5, seed: int = 3) -> Tensor:
    """Random real rows (m, T), some ended early (END, then END as the filler) so masking counts."""
    reals = torch.randint(0, END, (rows, LENGTH), generator=torch.Generator().manual_seed(seed))
    reals[0, 2:] = END
    reals[1, 4:] = END
    return reals


def gradients(loss: Tensor, generator: Generator) -> list[Tensor]:
    return list(torch.autograd.grad(loss, list(generator.parameters()), allow_unused=False))


class HalfDiscriminator(Discriminator):
    """The real CNN discriminator with its output layer zeroed: logit 0, D = 0.5 on every sequence."""

    def __init__(self) -> None:
        super().__init__(VOCAB, LENGTH, 4, (1, 2), (3, 3))
        nn.init.zeros_(self.output.weight)
        nn.init.zeros_(self.output.bias)


class CountingDiscriminator(nn.Module):
    """A known D: logit = (number of TARGET tokens) - 1, so D/(1 - D) = e^(count - 1)."""

    def forward(self, sequences: Tensor) -> Tensor:
        return (sequences == TARGET).sum(dim=1).float() - 1.0


# ------------------------------------------------------------------------------------------ weights
def test_normalised_weights_follow_d_over_one_minus_d_and_sum_to_one_in_each_group():
    logits = torch.randn(4, 6, generator=torch.Generator().manual_seed(0)) * 3
    weights = normalised_weights(logits)
    d = torch.sigmoid(logits.double())
    ratio = d / (1 - d)
    assert torch.allclose(weights.double(), ratio / ratio.sum(dim=1, keepdim=True), atol=1e-6)
    assert torch.allclose(weights.sum(dim=1), torch.ones(4))


def test_a_saturated_discriminator_is_clamped_to_finite_equal_ratios():
    d = torch.tensor([[1.0, 1.0 - 1e-9, CLAMP, 0.0]], dtype=torch.float64)  # two above 1 - 1e-6, two at or below 1e-6
    weights = normalised_weights(torch.logit(d))  # logits inf, 20.7, -13.8, -inf
    assert torch.isfinite(weights).all() and float(weights.sum()) == pytest.approx(1.0)
    assert float(weights[0, 0]) == pytest.approx(float(weights[0, 1]))  # both clamped to D = 1 - 1e-6
    assert float(weights[0, 2]) == pytest.approx(float(weights[0, 3]))  # both at D = 1e-6
    assert float(weights[0, 0] / weights[0, 2]) == pytest.approx(((1 - CLAMP) / CLAMP) ** 2, rel=1e-3)


# ------------------------------------------------------------------------------- the estimator itself
@pytest.mark.parametrize("prefix", [1, 3, LENGTH])
def test_with_d_one_half_everywhere_the_gradient_is_mle_on_the_real_prefixes(prefix):
    generator, reals = tiny_generator(), real_rows()
    loss, metrics = maligan_surrogate(generator, HalfDiscriminator(), reals, prefix, 4, torch.Generator().manual_seed(1))
    assert metrics["mean_reward"] == 0.5 and metrics["effective_share"] == pytest.approx(1.0)
    truncated = reals[:, :prefix]
    counted = float(generator.token_mask(truncated).sum())
    mle = generator.mle_loss(truncated) * counted / len(reals)  # MLE's loss per real sequence
    for ours, theirs in zip(gradients(loss, generator), gradients(mle, generator)):
        assert torch.allclose(ours, theirs, atol=1e-6)
    if prefix == LENGTH:  # every token real: MLE on the whole sequences
        whole = generator.mle_loss(reals) * float(generator.token_mask(reals).sum()) / len(reals)
        assert torch.allclose(loss, whole)


def test_with_d_one_half_and_no_prefix_the_step_is_zero_and_otherwise_it_is_not():
    generator, reals, noise = tiny_generator(), real_rows(), 1
    half, _ = maligan_surrogate(generator, HalfDiscriminator(), reals, 0, 4, torch.Generator().manual_seed(noise))
    assert all(float(g.abs().max()) < 1e-7 for g in gradients(half, generator))
    counted, _ = maligan_surrogate(generator, CountingDiscriminator(), reals, 0, 4, torch.Generator().manual_seed(noise))
    assert max(float(g.abs().max()) for g in gradients(counted, generator)) > 1e-3


@pytest.mark.parametrize("prefix", [0, 2])
def test_the_loss_is_the_papers_estimator_weighted_within_each_prefix_group(prefix):
    """Recomputed by hand: groups of the continuations of one real prefix (one group when there is no
    prefix), w = r / sum r with r = D / (1 - D), minus b = 1 / group size; per real sequence."""
    generator, reals, discriminator, continuations = tiny_generator(), real_rows(), CountingDiscriminator(), 3
    loss, _ = maligan_surrogate(generator, discriminator, reals, prefix, continuations, torch.Generator().manual_seed(5))
    given = reals[:, :prefix].repeat_interleave(continuations, dim=0)
    samples = generator.sample(len(given), LENGTH, generator=torch.Generator().manual_seed(5), prefix=given)
    assert torch.equal(samples[:, :prefix], given)
    d = torch.sigmoid(discriminator(samples).double())
    ratio = d / (1 - d)
    log_g = (generator.log_probs(samples) * generator.token_mask(samples)).double()
    size = continuations if prefix else len(samples)
    expected = torch.zeros((), dtype=torch.float64)
    groups = len(samples) // size
    for first in range(0, len(samples), size):
        r = ratio[first:first + size]
        expected -= ((r / r.sum() - 1 / size) * log_g[first:first + size, prefix:].sum(dim=1)).sum() / groups
    if prefix:
        real = reals[:, :prefix]
        expected -= (generator.log_probs(real) * generator.token_mask(real)).double().sum() / len(reals)
    assert float(loss.detach()) == pytest.approx(float(expected.detach()), rel=1e-5, abs=1e-6)


def test_maligan_steps_raise_what_the_discriminator_prefers():
    generator = tiny_generator()
    optimizer = torch.optim.Adam(generator.parameters(), lr=0.02)
    noise, check = torch.Generator().manual_seed(1), torch.Generator().manual_seed(2)

    def share() -> float:
        return float((generator.sample(2000, LENGTH, generator=check.manual_seed(2)) == TARGET).float().mean())

    before = share()
    for _ in range(30):
        loss, _ = maligan_surrogate(generator, CountingDiscriminator(), real_rows(8), 0, 8, noise)
        descend(loss, list(generator.parameters()), optimizer, 5.0)
    assert share() > before + 0.2


# ------------------------------------------------------------------------------ sampling and schedule
def test_a_row_continued_from_its_own_prefix_with_the_same_noise_is_the_same_row():
    generator = tiny_generator()
    rows = generator.sample(20, LENGTH, generator=torch.Generator().manual_seed(4))
    for kept in (0, 3, LENGTH):
        again = generator.sample(20, LENGTH, generator=torch.Generator().manual_seed(4), prefix=rows[:, :kept])
        assert torch.equal(again, rows)
    other = torch.full((20, 3), TARGET)
    continued = generator.sample(20, LENGTH, generator=torch.Generator().manual_seed(4), prefix=other)
    assert torch.equal(continued[:, :3], other) and not torch.equal(continued, rows)
    with pytest.raises(ValueError, match="prefix must be"):
        generator.sample(20, 3, prefix=torch.zeros((20, 4), dtype=torch.long))


def test_the_prefix_falls_by_k_every_step_rounds_from_its_start_to_zero():
    settings = MaliGANConfig(sampled_start=2, sampled_step=3, step_rounds=2)
    assert [prefix_length(unit, 15, settings) for unit in range(1, 12)] == [13, 13, 10, 10, 7, 7, 4, 4, 1, 1, 0]
    assert prefix_length(1, 15, MaliGANConfig()) == 14  # Algorithm 2: N = T - K before the first step
    assert prefix_length(1, 15, MaliGANConfig(sampled_start=99)) == 0  # every token sampled (Algorithm 1)
    assert prefix_length(50, 15, MaliGANConfig(sampled_step=0)) == 14  # K = 0 keeps N


def test_real_rows_are_drawn_from_the_given_noise_alone():
    data = torch.arange(40).view(20, 2)
    first = draw_real_rows(data, 8, torch.Generator().manual_seed(3))
    assert torch.equal(first, draw_real_rows(data, 8, torch.Generator().manual_seed(3)))
    assert not torch.equal(first, draw_real_rows(data, 8, torch.Generator().manual_seed(4)))


# ----------------------------------------------------------------------------------------- settings
@pytest.mark.parametrize("setting", ["maligan.continuations=1", "maligan.sampled_start=-1",
                                     "maligan.sampled_step=2000000", "maligan.step_rounds=0"])
def test_bad_maligan_settings_are_one_line_errors(setting):
    with pytest.raises(SeqganError, match=setting.split("=")[0].replace(".", r"\.")):
        apply_overrides(preset("quick"), [setting])


def test_a_config_saved_before_maligan_still_loads_with_its_defaults():
    saved = config_to_dict(preset("quick"))
    del saved["maligan"]
    assert config_from_dict(saved).maligan == MaliGANConfig()


# -------------------------------------------------------------------------------------- command line
def test_train_generate_and_evaluate_maligan_from_the_command_line(tmp_path: Path):
    build_grammar_corpus("grammar", 15, count=200, seed=1).save(tmp_path)
    settings = [*TINY, "mle.epochs=2", "adversarial.rounds=3", "adversarial.eval_every=1", "run.threads=1",
                "maligan.continuations=4", "maligan.sampled_start=5", "maligan.sampled_step=5"]
    records, _ = train_generate_evaluate(tmp_path, "maligan", "mali", settings, tmp_path / "out")
    assert json.loads((tmp_path / "checkpoints" / "mali" / "run.json").read_text())["method"] == "maligan"
    adversarial = [r for r in records if r["phase"] == "adversarial"]
    assert [r["prefix"] for r in adversarial] == [10, 5, 0]  # 15 - 5, then K = 5 fewer each round
    assert all(0 <= r["goodness"] <= 1 and 0 < r["effective_share"] <= 1 for r in adversarial)


def test_the_memory_estimate_counts_every_continuation_a_step_back_propagates_through():
    from seqgan_music.training.budget import estimate_memory

    def batch_bytes(method: str, continuations: int) -> int:
        config = apply_overrides(preset("quick"), [f"run.method={method}", f"maligan.continuations={continuations}",
                                                   "adversarial.batch_size=64", "mle.batch_size=8"])
        return estimate_memory(config, 100, 20).parts["one training batch's activations"]

    assert batch_bytes("maligan", 128) > 30 * batch_bytes("maligan", 2)  # n continuations of each of m rows
    assert batch_bytes("seqgan", 128) == batch_bytes("seqgan", 2)  # a setting SeqGAN never reads
