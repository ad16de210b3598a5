"""Attention over bars (models/bar_attention.py): what each earlier bar offers on a hand-made tune, a
mixture that is a distribution, a model that learns to copy a bar farther back than its lookback
reads, and the option's config, checks and packed models. The generator's paths (teacher forcing,
stepping, states for the rollout, the rollout) are checked with attention in test_lookback.py."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from seqgan_music.composing.model import load_packed, pack_run
from seqgan_music.config import apply_overrides, config_from_toml, config_to_toml, preset
from seqgan_music.errors import SeqganError
from seqgan_music.models import lookback
from seqgan_music.models.bar_attention import BROKEN, candidates
from seqgan_music.models.generator import Generator
from seqgan_music.models.lookback import LookbackIds
from seqgan_music.training.build import build_generator
from seqgan_music.training.generation import load_trained_run
from seqgan_music.training.launch import start_run
from tests.test_lookback import BAR_ID, END, NONE, PAD, PART_ID, lookback_generator, music_corpus

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_each_earlier_bar_offers_its_token_at_the_same_place_with_its_match_so_far() -> None:
    names = "PART BAR a b c BAR a b d BAR a e c PART BAR a b".split()
    ids = {name: BAR_ID if name == "BAR" else PART_ID if name == "PART" else 10 + ord(name) - ord("a")
           for name in names}
    token = {value: name for name, value in ids.items()} | {-1: "-"}
    consumed = torch.tensor([[ids[name] for name in names]])
    found = candidates(lookback.bar_view_along(consumed, LookbackIds(BAR_ID, PART_ID, NONE)))

    def at(i: int, bars: int) -> list[tuple]:
        """(offered token, match) of bars 0..bars-1 predicting position i."""
        return [(token[int(found.values[0, i, j])], int(found.match[0, i, j])) for j in range(bars)]

    assert at(2, 1) == [("-", 0)]  # the first bar has no earlier bar
    assert at(6, 1) == [("a", 0)]  # bar 1's first step: bar 0 offers its first step
    assert at(8, 1) == [("c", 2)]  # "a b" so far, as in bar 0
    assert at(10, 2) == [("a", 0), ("a", 0)]
    assert at(11, 2) == [("b", 1), ("b", 1)]  # "a" so far, as in both
    assert at(12, 2) == [("c", BROKEN), ("d", BROKEN)]  # "a e" matches neither
    assert at(13, 2) == [("BAR", BROKEN), ("BAR", BROKEN)]  # a bar runs up to the next BAR
    assert [offered for offered, _ in at(14, 3)] == ["-"] * 3  # past the end of every earlier bar
    assert at(15, 4) == [("a", 0), ("a", 0), ("a", 0), ("-", 0)]  # the current bar offers nothing
    assert at(17, 3) == [("c", 2), ("d", 2), ("c", BROKEN)]
    assert found.distance[0, 15, :3].tolist() == [3, 2, 1]
    assert found.same_in_part[0, 15].nonzero().flatten().tolist() == [0]  # bar 1 of part 2 is bar 0 of part 1
    assert found.same_in_part[0, 17].nonzero().flatten().tolist() == [0]  # bar 1 of part 2 is bar 0 of part 1


def test_the_mixture_is_a_distribution_at_every_position() -> None:
    generator = lookback_generator(attention=True)
    sequences = generator.sample(6, 40, generator=torch.Generator().manual_seed(2))
    assert (sequences == BAR_ID).sum() > 20
    logits, _ = generator(generator.shift_right(sequences))
    torch.testing.assert_close(torch.logsumexp(logits, dim=-1), torch.zeros(6, 40, dtype=logits.dtype),
                               rtol=0, atol=1e-9)


def far_repeats(count: int, seed: int, notes: int = 8, steps: int = 6) -> torch.Tensor:
    """Tunes of four random bars, then the first bar again: three bars back from the repeat."""
    bars = torch.randint(4, 4 + notes, (count, 4, steps), generator=torch.Generator().manual_seed(seed))
    bars = torch.cat([bars, bars[:, :1]], dim=1)  # (count, 5, steps)
    with_lines = torch.cat([torch.full((count, 5, 1), BAR_ID), bars], dim=2).flatten(1)
    return torch.cat([with_lines, torch.full((count, 1), END)], dim=1)


def test_attention_copies_a_bar_from_farther_back_than_its_lookback_reads() -> None:
    """With lookback one bar back only, bar 5 = bar 1 is out of the LSTM's reach; the attention finds it."""
    train, test = far_repeats(512, 0), far_repeats(256, 1)
    repeat = slice(29, 34)  # bar 5's steps after its first (the first is a choice: it may start any bar)
    nll = {}
    for attention in (False, True):
        torch.manual_seed(0)
        generator = Generator(12, 8, 16, end_token=END, pad_token=PAD, lookback=True, bar_token=BAR_ID,
                              lookback_bars=(1,), attention=attention)
        optimizer = torch.optim.Adam(generator.parameters(), lr=0.02)
        for rows in torch.randint(0, len(train), (150, 64), generator=torch.Generator().manual_seed(1)):
            optimizer.zero_grad()
            generator.mle_loss(train[rows]).backward()
            optimizer.step()
        with torch.no_grad():
            nll[attention] = float(-generator.log_probs(test)[:, repeat].mean())
    assert nll[False] > 0.5 * math.log(8)  # one bar back cannot see bar 1
    assert nll[True] < 0.15  # the attention copies it


def test_attention_and_header_inputs_need_lookback_and_are_saved_in_configs_and_packed_models(tmp_path: Path) -> None:
    for option in ("attention", "header_tokens"):
        with pytest.raises(ValueError, match="lookback"):
            Generator(12, **{option: True})
    corpus = music_corpus()
    for option in ("attention", "header_inputs"):
        with pytest.raises(SeqganError, match="generator.lookback=true"):
            build_generator(corpus, apply_overrides(preset("quick"), [f"generator.{option}=true"]))
    with pytest.raises(SeqganError, match='data.unit="tune"'):
        build_generator(corpus, apply_overrides(preset("quick"), ["generator.lookback=true",
                                                                  "generator.header_inputs=true"]))
    config = apply_overrides(preset("tunes-quick"), ["generator.attention=true", "generator.header_inputs=true"])
    saved = config_from_toml(config_to_toml(config)).generator
    assert saved.attention is True and saved.header_inputs is True
    older = "\n".join(line for line in config_to_toml(preset("folk")).splitlines()
                      if not line.startswith(("attention", "header_inputs")))
    assert config_from_toml(older).generator.attention is False
    assert config_from_toml(older).generator.header_inputs is False

    corpus.save(tmp_path)
    config = apply_overrides(config, [
        "generator.embedding=8", "generator.hidden=16", "mle.epochs=1", "mle.batch_size=16", "run.eval_samples=16",
        "run.samples=2", "run.device=cpu", "run.method=mle"])
    assert start_run(tmp_path, "tunes", config, "attending").run() == "finished"
    trained = load_trained_run(tmp_path, "attending").generator
    assert trained.attention is not None and trained.lookback.header == 3
    packed = load_packed(pack_run(tmp_path, "attending", tmp_path / "packed")).generator
    assert packed.attention is not None and packed.lookback.header == 3
    drawn = [model.sample(4, 34, generator=torch.Generator().manual_seed(3)) for model in (trained, packed)]
    assert torch.equal(*drawn) and (drawn[0] == trained.lookback.bar).any()
