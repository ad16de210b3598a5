"""The SeqGAN generator update on a toy problem whose reward is known: it must raise it."""

import pytest
import torch
from torch import Tensor, nn

from seqgan_music.config import AdversarialConfig
from seqgan_music.models.generator import Generator
from seqgan_music.training.methods.seqgan import policy_gradient_step
from seqgan_music.training.rollout import RolloutPolicy

VOCAB, LENGTH, TARGET = 6, 8, 2


class CountingDiscriminator(nn.Module):
    """P(real) = the share of tokens equal to TARGET (clipped away from 0 and 1): a known reward."""

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))  # the rollout reads the parameters' dtype

    def forward(self, sequences: Tensor) -> Tensor:
        share = (sequences == TARGET).float().mean(dim=1).clamp(0.02, 0.98)  # (B,)
        return torch.logit(share)


def expected_reward(generator: Generator, seed: int) -> float:
    samples = generator.sample(4000, LENGTH, generator=torch.Generator().manual_seed(seed))
    return float((samples == TARGET).float().mean())


@pytest.mark.parametrize("baseline", [False, True])
def test_policy_gradient_raises_the_expected_reward(baseline: bool) -> None:
    torch.manual_seed(0)
    generator = Generator(VOCAB, 8, 16)
    policy = RolloutPolicy(generator, beta=0.8)
    discriminator = CountingDiscriminator()
    settings = AdversarialConfig(batch_size=32, rollouts=4, learning_rate=0.01, baseline=baseline)
    optimizer = torch.optim.Adam(generator.parameters(), lr=settings.learning_rate)
    sampling = torch.Generator().manual_seed(1)
    before = expected_reward(generator, seed=2)
    rewards = []
    for _ in range(40):
        metrics = policy_gradient_step(generator, optimizer, policy, discriminator, LENGTH, settings,
                                       256, "float32", sampling)
        rewards.append(metrics["mean_reward"])
    after = expected_reward(generator, seed=2)
    assert before == pytest.approx(1 / VOCAB, abs=0.03)  # an untrained generator is near uniform
    assert after > before + 0.3
    assert sum(rewards[-5:]) / 5 > sum(rewards[:5]) / 5 + 0.2  # the logged mean reward rises too


def test_the_rollout_policy_lags_the_generator_after_a_step() -> None:
    torch.manual_seed(0)
    generator = Generator(VOCAB, 8, 16)
    policy = RolloutPolicy(generator, beta=0.8)
    start = {name: p.detach().clone() for name, p in generator.named_parameters()}
    settings = AdversarialConfig(batch_size=16, rollouts=2)
    optimizer = torch.optim.Adam(generator.parameters(), lr=settings.learning_rate)
    policy_gradient_step(generator, optimizer, policy, CountingDiscriminator(), LENGTH, settings,
                         256, "float32", torch.Generator().manual_seed(1))
    for name, moved in generator.named_parameters():
        expected = 0.8 * start[name] + 0.2 * moved.detach()
        torch.testing.assert_close(dict(policy.network.named_parameters())[name], expected)
