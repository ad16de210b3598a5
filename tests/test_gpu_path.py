"""The GPU path on the CPU: what the rollout does instead of waiting for the device (it computes the
chunks of rows that have all ended rather than test for them) gives the same completions and rewards."""

import pytest
import torch

from seqgan_music.models.discriminator import Discriminator, filter_bank
from seqgan_music.models.generator import Generator
from seqgan_music.training import rollout
from seqgan_music.training.rollout import rollout_completions, rollout_noise, rollout_rewards

VOCAB, LENGTH, BATCH, ROLLOUTS, END, PAD = 11, 9, 6, 3, 3, 0


def test_the_rollout_skips_ended_chunks_only_on_the_cpu():
    assert rollout.skips_ended_chunks(torch.device("cpu"))
    assert not rollout.skips_ended_chunks(torch.device("cuda", 0))  # a test there would wait for the device


@pytest.mark.parametrize("chunk_size", [1, 4, 1000])
def test_computing_ended_chunks_gives_the_same_completions_and_rewards(monkeypatch, chunk_size):
    torch.manual_seed(0)
    policy = Generator(VOCAB, 8, 8, start_token=1, end_token=END, pad_token=PAD).double()
    with torch.no_grad():
        policy.output.bias[END] += 3.0  # rows end early, so that whole chunks have ended
    widths, counts = filter_bank(LENGTH, 0.05)
    discriminator = Discriminator(VOCAB, LENGTH, 8, widths, counts).double()
    sequences = policy.sample(BATCH, LENGTH, generator=torch.Generator().manual_seed(1))
    assert (sequences[:, :3] == END).any()  # some rows ended in their first tokens
    noise = rollout_noise(BATCH, LENGTH, ROLLOUTS, torch.Generator().manual_seed(2), "cpu")
    skipped = (rollout_completions(policy, sequences, ROLLOUTS, noise, chunk_size=chunk_size),
               rollout_rewards(policy, discriminator, sequences, ROLLOUTS, noise, chunk_size=chunk_size))
    calls = []
    monkeypatch.setattr(rollout, "skips_ended_chunks", lambda device: calls.append(device) or False)
    computed = (rollout_completions(policy, sequences, ROLLOUTS, noise, chunk_size=chunk_size),
                rollout_rewards(policy, discriminator, sequences, ROLLOUTS, noise, chunk_size=chunk_size))
    assert calls  # the GPU's way was taken
    assert torch.equal(skipped[0], computed[0]) and torch.equal(skipped[1], computed[1])
