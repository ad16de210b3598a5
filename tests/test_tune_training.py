"""Training on whole tunes: rollouts every bar or every K tokens (one vectorized code path), and the
settings that choose them (rollout.every, data.unit)."""

from __future__ import annotations

import pytest
import torch

from seqgan_music.config import Config, apply_overrides, config_from_toml, config_to_toml
from seqgan_music.errors import SeqganError
from seqgan_music.models.discriminator import Discriminator
from seqgan_music.models.generator import Generator
from seqgan_music.training.rollout import rollout_noise, rollout_positions, rollout_rewards

VOCAB, LENGTH, BATCH, ROLLOUTS = 9, 14, 3, 2
PAD, END, BAR = 0, 1, 2


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def models() -> tuple[Generator, Discriminator]:
    torch.manual_seed(0)
    policy = Generator(VOCAB, 8, 8, end_token=END, pad_token=PAD)
    with torch.no_grad():
        for parameter in policy.parameters():
            parameter.mul_(3.0)  # visibly different distributions, so different prefixes get different Qs
    return policy.double(), Discriminator(VOCAB, LENGTH, 8, [1, 2, 3], [4, 4, 4]).double()


def tunes() -> torch.Tensor:
    """Three rows with bars of different lengths; row 1 ends early (then pads), like sampled tunes."""
    rows = [[BAR, 3, 4, 5, BAR, 6, 7, BAR, 3, 3, 3, 3, BAR, 8],
            [3, BAR, 4, 5, 6, BAR, 7, END, PAD, PAD, PAD, PAD, PAD, PAD],
            [BAR, 5, 5, 5, 5, 5, BAR, 4, 4, 4, 4, BAR, 6, 6]]
    return torch.tensor(rows)


def test_every_one_token_is_the_token_level_rollout_bit_for_bit():
    policy, discriminator = models()
    sequences = tunes()
    for every in (1, "1"):
        assert torch.equal(
            rollout_rewards(policy, discriminator, sequences, ROLLOUTS, generator=torch.Generator().manual_seed(4),
                            chunk_size=5, every=every),
            rollout_rewards(policy, discriminator, sequences, ROLLOUTS, generator=torch.Generator().manual_seed(4),
                            chunk_size=5))


def test_bar_rewards_are_the_token_level_q_at_each_bar_end_constant_within_the_bar():
    policy, discriminator = models()
    sequences = tunes()
    noise = rollout_noise(BATCH, LENGTH, ROLLOUTS, torch.Generator().manual_seed(5), None)
    # One row per step and per D call: the same completion is computed the same way in both runs.
    token = rollout_rewards(policy, discriminator, sequences, ROLLOUTS, noise, chunk_size=1)
    bar = rollout_rewards(policy, discriminator, sequences, ROLLOUTS, noise, chunk_size=1, every="bar", bar_token=BAR)
    mask = policy.token_mask(sequences)
    discriminator.eval()
    with torch.no_grad():  # Q(T) = D(x), scored one row per call as chunk_size=1 scores it
        whole = [torch.sigmoid(discriminator(sequences[b:b + 1]))[0] for b in range(BATCH)]
    for b in range(BATCH):
        row = sequences[b].tolist()
        # A bar ends before each BAR token (except at the start) and at the sequence's end.
        ends = [t - 1 for t in range(1, LENGTH) if row[t] == BAR] + [LENGTH - 1]
        start = 0
        for end in ends:
            q = whole[b] if end == LENGTH - 1 else token[b, end]
            for i in range(start, end + 1):
                expected = q if mask[b, i] else 0.0
                assert bar[b, i] == expected, (b, i, end)
            start = end + 1
    assert len(set(bar[0].tolist())) > 2  # the bars did get different Qs


def test_every_k_credits_each_token_with_the_next_kth_prefix():
    policy, discriminator = models()
    sequences = tunes()
    noise = rollout_noise(BATCH, LENGTH, ROLLOUTS, torch.Generator().manual_seed(6), None)
    token = rollout_rewards(policy, discriminator, sequences, ROLLOUTS, noise, chunk_size=1)
    every = rollout_rewards(policy, discriminator, sequences, ROLLOUTS, noise, chunk_size=1, every="4")
    mask = policy.token_mask(sequences).bool()
    for i in range(LENGTH):
        column = min((i // 4) * 4 + 3, LENGTH - 1)
        assert torch.equal(every[:, i], torch.where(mask[:, i], token[:, column], torch.zeros(BATCH).double()))


def test_rollout_positions_rolls_out_fewer_prefixes_per_bar():
    chosen = rollout_positions(tunes(), "bar", BAR)
    assert chosen[0].nonzero().flatten().tolist() == [3, 6, 11, 13]
    assert chosen[1].nonzero().flatten().tolist() == [0, 4, 13]  # nothing after the end token
    with pytest.raises(ValueError, match="bar_token"):
        rollout_positions(tunes(), "bar")
    with pytest.raises(ValueError, match="every"):
        rollout_positions(tunes(), 0)


def test_rollout_every_and_data_unit_are_validated_and_saved():
    config = apply_overrides(Config(), ["rollout.every=bar", "data.unit=tune"])
    assert (config.rollout.every, config.data.unit) == ("bar", "tune")
    assert config_from_toml(config_to_toml(config)).rollout.every == "bar"
    assert apply_overrides(Config(), ["rollout.every=4"]).rollout.every == "4"
    for bad, message in (("rollout.every=beat", "rollout.every"), ("rollout.every=0", "rollout.every"),
                         ("data.unit=bars", "data.unit must be one of window, tune")):
        with pytest.raises(SeqganError, match=message):
            apply_overrides(Config(), [bad])


def test_a_config_saved_before_data_unit_and_rollout_every_loads_as_windows_and_tokens():
    text = config_to_toml(Config())
    old = text.replace('every = "token"\n', "").split("[data]")
    old = old[0] + old[1].split("\n", 2)[2]  # drop the [data] section and its one field
    assert "[data]" not in old and "\nevery =" not in old
    config = config_from_toml(old)
    assert (config.data.unit, config.rollout.every) == ("window", "token")
