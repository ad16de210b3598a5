"""The Monte Carlo rollout: vectorized == naive reference, rewards land on the right tokens, and the
delayed rollout network really lags behind the generator."""

from __future__ import annotations

import io
import math

import pytest
import torch
from torch import Tensor, nn

from seqgan_music.models.discriminator import Discriminator, filter_bank
from seqgan_music.models.generator import Generator
from seqgan_music.models.sampling import uniforms
from seqgan_music.training.rollout import (
    RolloutPolicy,
    naive_rollout_completions,
    naive_rollout_rewards,
    rollout_completions,
    rollout_noise,
    rollout_rewards,
)

VOCAB, LENGTH, BATCH, ROLLOUTS = 13, 8, 5, 3
END, PAD = 3, 0


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models gain nothing from intra-op threads, and on a busy machine OpenMP's spinning makes
    thousands of tiny ops tens of times slower; the thread count is restored after this module."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def models(layers: int = 1, end_token: int | None = None, pad_token: int | None = None, seed: int = 0,
           vocab: int = VOCAB, length: int = LENGTH, start_token: int | None = None,
           dtype: torch.dtype = torch.float64) -> tuple[Generator, Discriminator]:
    torch.manual_seed(seed)
    policy = Generator(vocab, 8, 8, layers, start_token=start_token, end_token=end_token, pad_token=pad_token)
    # Larger weights than the default init, so the policy's distributions (and D's scores) differ visibly.
    with torch.no_grad():
        for parameter in policy.parameters():
            parameter.mul_(3.0)
    widths, counts = filter_bank(length, 0.05)
    discriminator = Discriminator(vocab, length, 8, widths, counts)
    return policy.to(dtype), discriminator.to(dtype)


def sequences_from(policy: Generator, batch: int = BATCH, length: int = LENGTH, seed: int = 1) -> Tensor:
    """Random tokens (B, T) without the end token, except where the policy has one: then row 1 ends at
    position 1 and row 2 at position length // 2, padded after it as `Generator.sample` pads."""
    tokens = torch.randint(0, policy.vocab_size, (batch, length), generator=torch.Generator().manual_seed(seed))
    if policy.end_token is None:
        return tokens
    tokens[tokens == policy.end_token] = policy.end_token + 1
    for row, position in ((1, 1), (2, length // 2)):
        if row < batch and position < length:
            tokens[row, position] = policy.end_token
    fill = policy.end_token if policy.pad_token is None else policy.pad_token
    return tokens.masked_fill(policy.token_mask(tokens) == 0, fill)


def noise_for(batch: int = BATCH, length: int = LENGTH, rollouts: int = ROLLOUTS, seed: int = 2) -> Tensor:
    return rollout_noise(batch, length, rollouts, torch.Generator().manual_seed(seed), "cpu")


# --- vectorized == naive ---------------------------------------------------------------------------

@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("end_token, pad_token", [(None, None), (END, PAD), (END, None)])
@pytest.mark.parametrize("chunk_size", [1, 7, 100_000])
def test_vectorized_matches_naive(layers: int, end_token: int | None, pad_token: int | None, chunk_size: int) -> None:
    policy, discriminator = models(layers, end_token, pad_token)
    sequences, noise = sequences_from(policy), noise_for()
    if end_token is not None:
        assert (sequences == end_token).any(), "the test needs sequences that end early"
    fast = rollout_completions(policy, sequences, ROLLOUTS, noise, chunk_size=chunk_size)
    slow = naive_rollout_completions(policy, sequences, ROLLOUTS, noise)
    assert torch.equal(fast, slow)
    fast_rewards = rollout_rewards(policy, discriminator, sequences, ROLLOUTS, noise, chunk_size=chunk_size)
    slow_rewards = naive_rollout_rewards(policy, discriminator, sequences, ROLLOUTS, noise)
    torch.testing.assert_close(fast_rewards, slow_rewards, rtol=0, atol=1e-5)


@pytest.mark.parametrize("temperature, top_k", [(0.7, None), (1.5, 4)])
def test_vectorized_matches_naive_with_temperature_and_top_k(temperature: float, top_k: int | None) -> None:
    policy, _ = models(layers=2)
    sequences, noise = sequences_from(policy), noise_for()
    fast = rollout_completions(policy, sequences, ROLLOUTS, noise, chunk_size=4, temperature=temperature, top_k=top_k)
    slow = naive_rollout_completions(policy, sequences, ROLLOUTS, noise, temperature=temperature, top_k=top_k)
    assert torch.equal(fast, slow)


def test_float32_vectorized_matches_naive() -> None:
    policy, discriminator = models(dtype=torch.float32)
    sequences, noise = sequences_from(policy), noise_for()
    fast = rollout_rewards(policy, discriminator, sequences, ROLLOUTS, noise, chunk_size=6)
    slow = naive_rollout_rewards(policy, discriminator, sequences, ROLLOUTS, noise)
    assert fast.dtype == slow.dtype == torch.float32
    torch.testing.assert_close(fast, slow, rtol=0, atol=1e-5)


# --- completions continue exactly as generation does -------------------------------------------------

@pytest.mark.parametrize("start_token", [None, 0])
@pytest.mark.parametrize("end_token, pad_token", [(None, None), (END, PAD)])
def test_completion_with_the_samples_own_noise_reproduces_the_sample(start_token: int | None,
                                                                     end_token: int | None,
                                                                     pad_token: int | None) -> None:
    """Generator.sample draws position p of row b with u[p, b]; feeding the rollout that same noise for
    every prefix must give back the sample itself. A rollout whose prefix skipped the start token, or
    resumed from the wrong state, would diverge."""
    policy, _ = models(layers=2, start_token=start_token, end_token=end_token, pad_token=pad_token)
    sequences = policy.sample(BATCH, LENGTH, generator=torch.Generator().manual_seed(7))  # (B, T)
    drawn = uniforms((LENGTH, BATCH), torch.Generator().manual_seed(7), "cpu")  # (T, B): the sample's noise
    noise = drawn.T.expand(ROLLOUTS, LENGTH - 1, BATCH, LENGTH)  # noise[n, t-1, b, p] = drawn[p, b]
    for completions in (rollout_completions(policy, sequences, ROLLOUTS, noise, chunk_size=5),
                        naive_rollout_completions(policy, sequences, ROLLOUTS, noise)):
        assert torch.equal(completions, sequences.expand_as(completions))


def test_completions_follow_the_teacher_forced_policy() -> None:
    """Every sampled token is the inverse-CDF draw from the policy's own (teacher-forced) logits."""
    policy, _ = models(layers=2)
    sequences, noise = sequences_from(policy), noise_for()
    completions = rollout_completions(policy, sequences, ROLLOUTS, noise, chunk_size=3)  # (N, T-1, B, T)
    rows = completions.reshape(-1, LENGTH)  # (N (T-1) B, T)
    with torch.no_grad():
        logits, _ = policy(policy.shift_right(rows))  # (rows, T, V)
    cumulative = torch.softmax(logits, dim=-1).cumsum(dim=-1).view(ROLLOUTS, LENGTH - 1, BATCH, LENGTH, VOCAB)
    for t in range(1, LENGTH):
        for p in range(t, LENGTH):
            u = noise[:, t - 1, :, p].double()  # (N, B)
            expected = (cumulative[:, t - 1, :, p, :] <= u.unsqueeze(-1)).sum(-1)  # (N, B) inverse CDF
            assert torch.equal(completions[:, t - 1, :, p], expected.clamp(max=VOCAB - 1))


def test_completions_keep_their_prefixes_and_shapes() -> None:
    policy, discriminator = models(layers=1)
    sequences, noise = sequences_from(policy), noise_for()
    completions = rollout_completions(policy, sequences, ROLLOUTS, noise)
    assert completions.shape == (ROLLOUTS, LENGTH - 1, BATCH, LENGTH)
    assert completions.dtype == torch.long
    for t in range(1, LENGTH):
        assert torch.equal(completions[:, t - 1, :, :t], sequences[:, :t].expand(ROLLOUTS, BATCH, t))
    # The sampled tails are really sampled: not all copies of the sequence itself.
    assert not torch.equal(completions, sequences.expand_as(completions))
    rewards = rollout_rewards(policy, discriminator, sequences, ROLLOUTS, noise)
    assert rewards.shape == (BATCH, LENGTH)
    assert ((rewards > 0) & (rewards < 1)).all()


@pytest.mark.parametrize("training", [True, False])
def test_last_reward_is_d_of_the_full_sequence_and_d_mode_is_restored(training: bool) -> None:
    policy, discriminator = models(layers=1)
    sequences, noise = sequences_from(policy), noise_for()
    discriminator.train(training)
    first = rollout_rewards(policy, discriminator, sequences, ROLLOUTS, noise)
    assert discriminator.training is training
    second = naive_rollout_rewards(policy, discriminator, sequences, ROLLOUTS, noise)
    assert discriminator.training is training
    # Eval mode inside: no dropout noise, so repeated calls agree exactly.
    assert torch.equal(first, rollout_rewards(policy, discriminator, sequences, ROLLOUTS, noise))
    discriminator.eval()
    with torch.no_grad():
        full = discriminator.probability_real(sequences)  # (B,)
    torch.testing.assert_close(first[:, -1], full, rtol=0, atol=1e-12)
    torch.testing.assert_close(second[:, -1], full, rtol=0, atol=1e-12)


def test_rewards_after_the_end_token_are_zero_and_completions_are_padded() -> None:
    policy, discriminator = models(layers=1, end_token=END, pad_token=PAD)
    sequences, noise = sequences_from(policy), noise_for()
    ended_early = (sequences[:, :-1] == END).any(dim=1)
    assert ended_early.any()
    rewards = rollout_rewards(policy, discriminator, sequences, ROLLOUTS, noise)
    mask = policy.token_mask(sequences)
    assert torch.equal(rewards[mask == 0], torch.zeros_like(rewards[mask == 0]))
    assert (rewards[mask == 1] > 0).all()  # the end token itself is a decision and keeps its reward
    completions = rollout_completions(policy, sequences, ROLLOUTS, noise)
    rows = completions.reshape(-1, LENGTH)
    after_end = policy.token_mask(rows) == 0
    assert after_end.any()
    assert (rows[after_end] == PAD).all()


def test_rewards_need_no_gradients_and_work_in_a_policy_gradient_loss() -> None:
    policy, discriminator = models(layers=1, dtype=torch.float32)
    sequences = sequences_from(policy)
    rewards = rollout_rewards(policy, discriminator, sequences, ROLLOUTS, generator=torch.Generator().manual_seed(0))
    assert not rewards.requires_grad
    loss = -(policy.log_probs(sequences) * rewards).sum()
    loss.backward()
    assert all(p.grad is not None for p in policy.parameters())
    assert all(p.grad is None for p in discriminator.parameters())


# --- the reshape order: which reward belongs to which token ------------------------------------------

FIRST_SAMPLED = 10  # sampled tokens are >= 10; sequence b is the token b repeated (b < 10)
CYCLE = 30


class UniformPolicy(nn.Module):
    """The policy API with uniform logits: noise (k + 0.5) / V draws exactly token k."""

    def __init__(self, vocab: int, layers: int = 2, hidden: int = 3) -> None:
        super().__init__()
        self.vocab_size, self.start_token, self.end_token, self.pad_token = vocab, 0, None, None
        self.layers, self.hidden = layers, hidden
        self.anchor = nn.Parameter(torch.zeros(1))

    def initial_state(self, batch: int) -> tuple[Tensor, Tensor]:
        h = torch.zeros(self.layers, batch, self.hidden)
        return h, h.clone()

    def step(self, tokens: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        return torch.zeros(tokens.shape[0], self.vocab_size), state

    def shift_right(self, sequences: Tensor) -> Tensor:
        return torch.cat([torch.full_like(sequences[:, :1], self.start_token), sequences[:, :-1]], dim=1)

    def token_mask(self, sequences: Tensor) -> Tensor:
        return torch.ones(sequences.shape)

    def states_along(self, sequences: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        batch, length = sequences.shape
        h = torch.zeros(length - 1, self.layers, batch, self.hidden)
        return h, h.clone(), torch.zeros(length - 1, batch, self.vocab_size)


def code(t: int | Tensor, n: int | Tensor, b: int | Tensor) -> Tensor:
    """The logit the fake discriminator gives the completion (t, n, b): distinct for every triple."""
    return torch.as_tensor(0.37 * t - 0.29 * b + 0.8 * torch.sin(torch.as_tensor(1.3 * n + 0.4 * b)),
                           dtype=torch.float64)


class DecodingDiscriminator(nn.Module):
    """Reads (t, n, b) back from a completion's tokens and returns code(t, n, b); NaN if the tokens are
    not exactly what the noise should have drawn for that row."""

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1, dtype=torch.float64))

    def forward(self, rows: Tensor) -> Tensor:
        out = []
        for row in rows.tolist():
            sampled = [p for p, token in enumerate(row) if token >= FIRST_SAMPLED]
            t = sampled[0] if sampled else len(row)
            b = row[0]
            n = (row[-1] - FIRST_SAMPLED - (len(row) - 1)) % CYCLE if sampled else 0
            consistent = (all(token == b for token in row[:t])
                          and all(row[p] == FIRST_SAMPLED + (n + p) % CYCLE for p in range(t, len(row))))
            out.append(code(t, n, b).item() if consistent else math.nan)
        return torch.tensor(out, dtype=torch.float64)

    def probability_real(self, rows: Tensor) -> Tensor:
        return torch.sigmoid(self(rows))


@pytest.mark.parametrize("chunk_size", [1, 5, 100_000])
def test_each_reward_belongs_to_its_own_prefix_rollout_and_sequence(chunk_size: int) -> None:
    vocab, batch, length, rollouts = FIRST_SAMPLED + CYCLE, 4, 6, 3
    policy = UniformPolicy(vocab)
    sequences = torch.arange(batch).unsqueeze(1).expand(batch, length).clone()  # sequence b: b b b ...
    n, t, b, p = torch.meshgrid(torch.arange(rollouts), torch.arange(1, length), torch.arange(batch),
                                torch.arange(length), indexing="ij")
    token = FIRST_SAMPLED + (n + p) % CYCLE  # the token noise[n, t-1, b, p] must draw
    noise = ((token + 0.5) / vocab).float()  # (N, T-1, B, T)
    expected = torch.empty(batch, length, dtype=torch.float64)
    for bi in range(batch):
        for ti in range(1, length):
            expected[bi, ti - 1] = torch.stack([torch.sigmoid(code(ti, ni, bi)) for ni in range(rollouts)]).mean()
        expected[bi, length - 1] = torch.sigmoid(code(length, 0, bi))
    fake = DecodingDiscriminator()
    fast = rollout_rewards(policy, fake, sequences, rollouts, noise, chunk_size=chunk_size)
    slow = naive_rollout_rewards(policy, fake, sequences, rollouts, noise)
    torch.testing.assert_close(fast, expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(slow, expected, rtol=0, atol=1e-12)


# --- the delayed rollout network ---------------------------------------------------------------------

def _nudge(generator: nn.Module, seed: int = 5) -> None:
    torch.manual_seed(seed)
    with torch.no_grad():
        for parameter in generator.parameters():
            parameter.add_(torch.randn_like(parameter))


def test_update_moves_each_parameter_one_fifth_of_the_way_to_the_generator() -> None:
    generator, _ = models(layers=2)
    rollout = RolloutPolicy(generator, beta=0.8)
    assert all(not p.requires_grad for p in rollout.network.parameters())
    assert rollout.network is not generator
    before = {k: v.clone() for k, v in rollout.network.state_dict().items()}
    _nudge(generator)
    target = {k: v.clone() for k, v in generator.state_dict().items()}
    # A deep copy: changing the generator leaves the rollout network as it was until update().
    assert all(torch.equal(rollout.network.state_dict()[k], before[k]) for k in before)
    rollout.update(generator)
    after = rollout.network.state_dict()
    for name in before:
        torch.testing.assert_close(after[name], 0.8 * before[name] + 0.2 * target[name], rtol=0, atol=1e-12)
        torch.testing.assert_close(after[name] - before[name], 0.2 * (target[name] - before[name]),
                                   rtol=0, atol=1e-12)
        assert torch.equal(generator.state_dict()[name], target[name])  # the generator is untouched


def test_rollout_really_lags_and_converges_geometrically() -> None:
    generator, _ = models(layers=1)
    rollout = RolloutPolicy(generator, beta=0.8)
    _nudge(generator)

    def distance() -> float:
        return sum((a - b).square().sum().item()
                   for a, b in zip(rollout.network.parameters(), generator.parameters())) ** 0.5

    start = distance()
    assert start > 1.0
    for step in range(1, 4):
        rollout.update(generator)
        # 0.8^k of the gap remains: with the update direction reversed (or beta and 1 - beta swapped)
        # the gap would be 0.2^k, and with a rollout that follows the generator it would be 0.
        assert distance() == pytest.approx(start * 0.8 ** step, rel=1e-9)
    sequences, noise = sequences_from(generator), noise_for()
    lagging = rollout_completions(rollout.network, sequences, ROLLOUTS, noise)
    current = rollout_completions(generator, sequences, ROLLOUTS, noise)
    assert not torch.equal(lagging, current)


def test_beta_zero_copies_the_generator_exactly() -> None:
    generator, _ = models(layers=2)
    rollout = RolloutPolicy(generator, beta=0.0)
    _nudge(generator)
    rollout.update(generator)
    for mine, theirs in zip(rollout.network.parameters(), generator.parameters()):
        assert torch.equal(mine, theirs)
    sequences, noise = sequences_from(generator), noise_for()
    assert torch.equal(rollout_completions(rollout.network, sequences, ROLLOUTS, noise),
                       rollout_completions(generator, sequences, ROLLOUTS, noise))


def test_update_copies_buffers_and_rejects_another_architecture() -> None:
    class WithBuffer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.zeros(3))
            self.register_buffer("count", torch.zeros(2))

    source = WithBuffer()
    rollout = RolloutPolicy(source, beta=0.5)
    with torch.no_grad():
        source.weight.fill_(2.0)
        source.count.fill_(7.0)
    rollout.update(source)
    assert torch.equal(rollout.network.weight, torch.ones(3))
    assert torch.equal(rollout.network.count, torch.full((2,), 7.0))
    with pytest.raises(ValueError, match="different parameters"):
        rollout.update(Generator(VOCAB, 8, 8))
    with pytest.raises(ValueError, match="beta"):
        RolloutPolicy(source, beta=1.5)


def test_state_dict_round_trips_through_a_weights_only_checkpoint() -> None:
    generator, _ = models(layers=1)
    rollout = RolloutPolicy(generator, beta=0.8)
    _nudge(generator)
    rollout.update(generator)
    buffer = io.BytesIO()
    torch.save(rollout.state_dict(), buffer)
    buffer.seek(0)
    restored = RolloutPolicy(models(layers=1, seed=9)[0], beta=0.3)
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    assert restored.beta == 0.8
    for mine, theirs in zip(restored.network.parameters(), rollout.network.parameters()):
        assert torch.equal(mine, theirs)


# --- precision, noise, arguments ---------------------------------------------------------------------

def test_bfloat16_rewards_are_within_a_hundredth_of_float32() -> None:
    vocab, length, batch, rollouts = 50, 10, 8, 4
    torch.manual_seed(3)
    policy = Generator(vocab, 16, 16)
    widths, counts = filter_bank(length, 0.25)
    discriminator = Discriminator(vocab, length, 16, widths, counts)
    sequences = policy.sample(batch, length, generator=torch.Generator().manual_seed(4))
    noise = rollout_noise(batch, length, rollouts, torch.Generator().manual_seed(5), "cpu")
    full = rollout_rewards(policy, discriminator, sequences, rollouts, noise, chunk_size=64)
    half = rollout_rewards(policy, discriminator, sequences, rollouts, noise, chunk_size=64, precision="bfloat16")
    assert half.dtype == torch.float32
    assert (half - full).abs().max().item() < 0.01
    assert not torch.equal(half, full)  # bf16 really ran


def test_rollout_noise_is_reproducible_by_seed() -> None:
    first = rollout_noise(4, 6, 3, torch.Generator().manual_seed(11), "cpu")
    again = rollout_noise(4, 6, 3, torch.Generator().manual_seed(11), "cpu")
    other = rollout_noise(4, 6, 3, torch.Generator().manual_seed(12), "cpu")
    assert first.shape == (3, 5, 4, 6)
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert first.min() >= 0 and first.max() < 1
    policy, discriminator = models(layers=1)
    sequences = sequences_from(policy)
    rewards = [rollout_rewards(policy, discriminator, sequences, 2, generator=torch.Generator().manual_seed(s))
               for s in (1, 1, 2)]
    assert torch.equal(rewards[0], rewards[1]) and not torch.equal(rewards[0], rewards[2])


def test_bad_arguments_are_rejected() -> None:
    policy, discriminator = models(layers=1)
    sequences = sequences_from(policy)
    with pytest.raises(ValueError, match="noise must be"):
        rollout_rewards(policy, discriminator, sequences, ROLLOUTS, noise_for(rollouts=ROLLOUTS + 1))
    with pytest.raises(ValueError, match="precision"):
        rollout_rewards(policy, discriminator, sequences, ROLLOUTS, noise_for(), precision="float16")
    with pytest.raises(ValueError, match="chunk_size"):
        rollout_completions(policy, sequences, ROLLOUTS, noise_for(), chunk_size=0)
    with pytest.raises(ValueError, match="rollouts"):
        rollout_completions(policy, sequences, 0)


def test_a_single_token_sequence_has_only_its_final_reward() -> None:
    policy, _ = models(layers=1, length=1)
    discriminator = Discriminator(VOCAB, 1, 8, (1,), (4,)).double()
    sequences = sequences_from(policy, length=1)
    rewards = rollout_rewards(policy, discriminator, sequences, ROLLOUTS, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(rewards[:, 0], discriminator.eval().probability_real(sequences))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_vectorized_matches_naive_on_cuda() -> None:
    policy, discriminator = models(layers=2, end_token=END, pad_token=PAD)
    policy, discriminator = policy.cuda(), discriminator.cuda()
    sequences = sequences_from(policy.cpu()).cuda()
    policy.cuda()
    noise = noise_for().cuda()
    fast = rollout_completions(policy, sequences, ROLLOUTS, noise, chunk_size=7)
    slow = naive_rollout_completions(policy, sequences, ROLLOUTS, noise)
    assert fast.device.type == "cuda"
    assert torch.equal(fast, slow)
    torch.testing.assert_close(rollout_rewards(policy, discriminator, sequences, ROLLOUTS, noise, chunk_size=7),
                               naive_rollout_rewards(policy, discriminator, sequences, ROLLOUTS, noise),
                               rtol=0, atol=1e-5)
    half = rollout_rewards(policy.float(), discriminator.float(), sequences, ROLLOUTS, noise, precision="bfloat16")
    assert half.device.type == "cuda" and torch.isfinite(half).all()
