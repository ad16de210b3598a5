"""Lookback inputs: one definition computed vectorised and step by step, equal on random and real
tunes and right on a hand-made one; a lookback generator's every path (teacher forcing, sampling,
states for the rollout, the rollout itself, scheduled sampling) agrees with stepping, with attention
over bars (models/bar_attention.py) and without; it learns to
repeat bars a plain LSTM of the same size cannot; and the config option builds and trains it."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor

from seqgan_music.config import apply_overrides, config_from_toml, config_to_toml, preset
from seqgan_music.corpora.encodings import Grid16
from seqgan_music.corpora.grammar import build_grammar_corpus
from seqgan_music.corpora.melody import Key, Melody, Note, bar_lines
from seqgan_music.corpora.music import build_music_corpus
from seqgan_music.corpora.split import SplitPlan
from seqgan_music.corpora.tunes import PART
from seqgan_music.corpora.encodings import BAR
from seqgan_music.errors import SeqganError
from seqgan_music.models import lookback
from seqgan_music.models.generator import Generator
from seqgan_music.models.lookback import BAR_NONE, STEP_NONE, LookbackIds, LookbackState
from seqgan_music.models.sampling import draw, uniforms
from seqgan_music.training.build import build_generator
from seqgan_music.training.generation import load_trained_run
from seqgan_music.training.launch import start_run
from seqgan_music.training.rollout import naive_rollout_completions, rollout_completions, rollout_noise
from seqgan_music.training.methods.scheduled_sampling import scheduled_sampling_loss

PAD, END, BAR_ID, PART_ID = 0, 1, 2, 3  # toy vocabularies: then notes from 4
NONE = 99
IDS = LookbackIds(BAR_ID, PART_ID, NONE)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def stepped_features(consumed: Tensor, ids: LookbackIds, capacity: int = 4) -> tuple[list[Tensor], LookbackState]:
    """Each feature (B, n + 1) by `advance` + `features` from a small state (so it grows), and the final state."""
    state = lookback.advance(lookback.initial_state(len(consumed), capacity=capacity),
                             torch.full((len(consumed),), 7, dtype=torch.long), ids)  # the start token
    columns = []
    for t in range(consumed.shape[1] + 1):
        columns.append(lookback.features(state, ids))
        if t < consumed.shape[1]:
            state = lookback.advance(state, consumed[:, t], ids)
    return [torch.stack(values, dim=1) for values in zip(*columns)], state


def assert_same_state(vectorised: LookbackState, stepped: LookbackState) -> None:
    """Equal in every field that counts: the consumed tokens, the positions of the consumed BARs, counters."""
    for name in ("length", "bars", "parts", "part_bars"):
        assert torch.equal(getattr(vectorised, name), getattr(stepped, name)), name
    for row in range(len(stepped.length)):
        length, bars = int(stepped.length[row]), int(stepped.bars[row])
        assert torch.equal(vectorised.history[row, :length], stepped.history[row, :length])
        assert torch.equal(vectorised.bar_positions[row, :bars], stepped.bar_positions[row, :bars])


def assert_agree(consumed: Tensor, ids: LookbackIds) -> None:
    along = lookback.features_along(consumed, ids)
    by_step, final = stepped_features(consumed, ids)
    for name, vectorised, stepped in zip(lookback.LookbackFeatures._fields, along, by_step):
        assert torch.equal(vectorised, stepped), name
    assert_same_state(lookback.state_after(consumed, ids), final)


# --- the definition -------------------------------------------------------------------------------

def test_features_of_a_hand_made_tune() -> None:
    names = "H PART p BAR a b BAR c d e BAR f PART q BAR a2 b2 BAR c2 d2 BAR g h k BAR".split()
    ids = {name: BAR_ID if name == "BAR" else PART_ID if name == "PART" else 10 + i for i, name in enumerate(names)}
    token = {value: name for name, value in ids.items()} | {NONE: "-"}
    consumed = torch.tensor([[ids[name] for name in names]])
    features = lookback.features_along(consumed, IDS)

    def at(i: int) -> tuple:
        """(one bar back, two bars back, one part back, step in bar, bar in part) predicting position i."""
        return (token[int(features.bars_back[0, i, 0])], token[int(features.bars_back[0, i, 1])],
                token[int(features.one_part[0, i])], int(features.step_in_bar[0, i]), int(features.bar_in_part[0, i]))

    assert at(0) == ("-", "-", "-", STEP_NONE, BAR_NONE)  # nothing yet
    assert at(2) == ("-", "-", "-", STEP_NONE, 0)  # the pickup: a part, no bar line yet
    assert at(4) == ("-", "-", "-", 0, 1)  # first step of the first bar
    assert at(7) == ("a", "-", "-", 0, 2)
    assert at(8) == ("b", "-", "-", 1, 2)
    assert at(9) == ("BAR", "-", "-", 2, 2)  # the bar before ended here
    assert at(10) == ("-", "-", "-", 3, 2)  # ... and has nothing this far
    assert at(11) == ("c", "a", "-", 0, 3)
    assert at(13) == ("e", "BAR", "-", 2, 0)  # the second part's pickup: no bar of it to look back to
    assert at(15) == ("f", "c", "a", 0, 1)  # bar 1 of part 2: part 1's bar 1
    assert at(16) == ("PART", "d", "b", 1, 1)
    assert at(18) == ("a2", "f", "c", 0, 2)
    assert at(19) == ("b2", "PART", "d", 1, 2)
    assert at(21) == ("c2", "a2", "f", 0, 3)  # part 1's last bar runs up to the PART ...
    assert at(22) == ("d2", "b2", "PART", 1, 3)
    assert at(23) == ("BAR", "BAR", "-", 2, 3)  # ... and no further
    assert at(25) == ("g", "c2", "-", 0, 4)  # part 1 has no bar 4
    assert_agree(consumed, IDS)


def test_without_parts_bar_features_stay_and_part_features_are_none() -> None:
    """Window corpora have bar lines but no PART: the part token (here 3) is then an ordinary token."""
    ids = LookbackIds(BAR_ID, None, NONE)
    consumed = torch.tensor([[BAR_ID, 4, 5, BAR_ID, 6, 3, BAR_ID, 4, 5]])
    features = lookback.features_along(consumed, ids)
    assert features.bars_back[0, :, 0].tolist() == [NONE] * 4 + [4, 5, BAR_ID] + [6, 3, BAR_ID]
    assert features.bars_back[0, :, 1].tolist() == [NONE] * 7 + [4, 5, BAR_ID]
    assert (features.one_part == NONE).all() and (features.bar_in_part == BAR_NONE).all()
    assert features.step_in_bar[0].tolist() == [STEP_NONE, 0, 1, 2, 0, 1, 2, 0, 1, 2]
    assert_agree(consumed, ids)


def test_four_bars_back_reads_the_same_place_four_bars_earlier() -> None:
    """bars_back (1, 4): bar 5 reads bar 1 at the same offset, bar 4 has nothing four bars back."""
    ids = LookbackIds(BAR_ID, None, NONE, bars_back=(1, 4))
    bars = [[4, 5], [6, 7], [8, 9], [10, 11], [12, 13]]
    consumed = torch.tensor([[token for bar in bars for token in (BAR_ID, *bar)]])
    features = lookback.features_along(consumed, ids)
    four = features.bars_back[0, :, 1].tolist()
    assert four[:13] == [NONE] * 13  # predicting bars 1-4 and bar 5's first step before its BAR is read
    assert four[13:] == [4, 5, BAR_ID]  # bar 5's steps: bar 1's, then the bar line that ended it
    assert features.bars_back[0, 13:, 0].tolist() == [10, 11, BAR_ID]
    assert_agree(consumed, ids)


@pytest.mark.parametrize("part", [PART_ID, None])
@pytest.mark.parametrize("bars_back,header", [((1, 2), 0), ((1, 2, 4), 0), ((1, 2, 4), 3)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vectorised_equals_step_by_step_on_random_sequences(part: int | None, bars_back: tuple, header: int,
                                                            seed: int) -> None:
    """Bar lines and parts far more often than in music, and long bars, so clipping and growth happen."""
    generator = torch.Generator().manual_seed(seed)
    choices = torch.tensor([BAR_ID] * 3 + [PART_ID] + [4, 5, 6, 7, 8, 9, 10, 11])
    consumed = choices[torch.randint(0, len(choices), (6, 90), generator=generator)]
    consumed[0, :45] = 4  # a bar longer than the clip
    assert_agree(consumed, LookbackIds(BAR_ID, part, NONE, bars_back, header))
    assert_agree(consumed[:, :0], LookbackIds(BAR_ID, part, NONE, bars_back, header))  # nothing consumed


def test_header_inputs_are_the_first_tokens_once_consumed() -> None:
    consumed = torch.tensor([[20, 21, 22, PART_ID, BAR_ID, 4, 5]])
    header = lookback.features_along(consumed, LookbackIds(BAR_ID, PART_ID, NONE, header=3)).header[0].tolist()
    assert header[:4] == [[NONE] * 3, [20, NONE, NONE], [20, 21, NONE], [20, 21, 22]]
    assert header[4:] == [[20, 21, 22]] * 4
    assert lookback.features_along(consumed, IDS).header.shape == (1, 8, 0)


def test_vectorised_equals_step_by_step_on_nottingham_tunes(nottingham_grid16) -> None:
    corpus = nottingham_grid16
    vocabulary = corpus.vocabulary
    ids = LookbackIds(vocabulary.id(BAR), vocabulary.id(PART), len(vocabulary) + 1)
    tunes = corpus.tune_sequences["valid"]
    consumed = torch.full((len(tunes), max(map(len, tunes))), vocabulary.pad, dtype=torch.long)
    for row, tune in enumerate(tunes):
        consumed[row, :len(tune)] = torch.from_numpy(tune.astype(np.int64))
    assert_agree(consumed, ids)
    # The features carry the tunes' repeats: where they exist, they name the next token most of the time.
    features = lookback.features_along(consumed, ids)
    counted = consumed != vocabulary.pad
    for looked in (features.bars_back[..., 0], features.one_part):
        found = looked[:, :-1] != ids.none
        assert found[counted].float().mean() > 0.4
        assert (looked[:, :-1] == consumed)[found & counted].float().mean() > 0.55


# --- the generator ----------------------------------------------------------------------------------

def lookback_generator(vocab: int = 12, layers: int = 1, seed: int = 0, part: int | None = PART_ID,
                       start_token: int | None = None, attention: bool = False) -> Generator:
    """Random weights three times the init's, so distributions differ visibly, and bar lines and parts
    drawn often, so lookback has bars to read; float64 for exact sums."""
    torch.manual_seed(seed)
    generator = Generator(vocab, 8, 8, layers, start_token=start_token, end_token=END, pad_token=PAD,
                          lookback=True, bar_token=BAR_ID, part_token=part, attention=attention)
    with torch.no_grad():
        for parameter in generator.parameters():
            parameter.mul_(3.0)
        generator.output.bias[BAR_ID] += 2.0
        generator.output.bias[PART_ID] += 1.0
    return generator.double().eval().requires_grad_(False)


def test_lookback_needs_a_bar_token_and_plain_generators_are_unchanged() -> None:
    with pytest.raises(ValueError, match="bar_token"):
        Generator(10, lookback=True)
    with pytest.raises(ValueError, match="bar_token"):
        Generator(10, lookback=True, bar_token=10)
    torch.manual_seed(0)
    plain = Generator(10, 8, 8, bar_token=BAR_ID, part_token=PART_ID)
    torch.manual_seed(0)
    before = Generator(10, 8, 8)
    assert plain.lookback is None and len(plain.initial_state(2)) == 2
    for (name, mine), (other, theirs) in zip(plain.state_dict().items(), before.state_dict().items(), strict=True):
        assert name == other and torch.equal(mine, theirs)
    with_lookback = lookback_generator()
    assert with_lookback.embedding.num_embeddings == 12 + 2  # a start row and a "none" row
    assert with_lookback.lstm.input_size == 4 * 8 + 2 * 8


@pytest.mark.parametrize("attention", [False, True])
@pytest.mark.parametrize("start_token", [None, 4])
def test_sampled_sequences_score_by_teacher_forcing_as_drawn(start_token: int | None, attention: bool) -> None:
    """sample() draws token by token; log_probs scores the same tokens vectorised: the sums agree."""
    generator = lookback_generator(start_token=start_token, attention=attention)
    samples = generator.sample(16, 40, generator=torch.Generator().manual_seed(3))
    noise = uniforms((40, 16), torch.Generator().manual_seed(3), "cpu")
    previous, state = torch.full((16,), generator.start_token), generator.initial_state(16)
    drawn, step_log_probs = [], []
    for t in range(40):
        logits, state = generator.step(previous, state)
        previous = draw(logits, noise[t])
        drawn.append(previous)
        step_log_probs.append(torch.log_softmax(logits, dim=-1).gather(1, previous.unsqueeze(1)).squeeze(1))
    mask = generator.token_mask(samples)
    assert torch.equal(torch.stack(drawn, dim=1)[mask.bool()], samples[mask.bool()])
    assert (samples == BAR_ID).any() and (samples == END).any() and mask.sum() > 100
    by_steps = (torch.stack(step_log_probs, dim=1) * mask).sum(dim=1)
    torch.testing.assert_close(generator.log_probs(samples).mul(mask).sum(dim=1), by_steps, rtol=0, atol=1e-9)
    assert float(generator.nll(samples).mean()) > 0


@pytest.mark.parametrize("layers,attention", [(1, False), (2, False), (2, True)])
def test_states_along_continue_exactly_like_stepping(layers: int, attention: bool) -> None:
    generator = lookback_generator(layers=layers, attention=attention)
    sequences = generator.sample(4, 30, generator=torch.Generator().manual_seed(5))
    h, c, logits, states, *bars = generator.states_along(sequences)
    assert h.shape == (29, layers, 4, 8) and logits.shape == (29, 4, 12) and states.length.shape == (29, 4)
    other = torch.randint(4, 12, (4, 6), generator=torch.Generator().manual_seed(6))
    other[:, 2] = BAR_ID
    for t in (1, 9, 29):
        state = (h[t - 1], c[t - 1], *(memory.map(lambda field: field[t - 1]) for memory in (states, *bars)))
        fresh = generator.initial_state(4)
        _, fresh = generator.step(torch.full((4,), generator.start_token), fresh)
        for i in range(t):
            expected, fresh = generator.step(sequences[:, i], fresh)
        assert torch.equal(logits[t - 1], expected)
        for i in range(6):  # continue both with tokens the sequence does not have
            continued, state = generator.step(other[:, i], state)
            expected, fresh = generator.step(other[:, i], fresh)
            assert torch.equal(continued, expected)
    empty = generator.states_along(sequences[:, :1])
    assert empty[0].shape == (0, layers, 4, 8) and empty[3].length.shape == (0, 4)


@pytest.mark.parametrize("attention", [False, True])
def test_forward_states_continue_like_stepping(attention: bool) -> None:
    """Composing scores a prefix by teacher forcing, then steps on from the state it returns."""
    generator = lookback_generator(attention=attention)
    sequences = generator.sample(3, 25, generator=torch.Generator().manual_seed(8))
    inputs = generator.shift_right(sequences)  # the start token, then 24 tokens
    forced, state = generator(inputs[:, :15])
    stepped, stepped_state = generator(inputs[:, :15], generator.initial_state(3))
    torch.testing.assert_close(forced, stepped, rtol=0, atol=1e-9)
    assert_same_state(state[2], stepped_state[2])
    rest, _ = generator(inputs[:, 15:], state)  # continue from the teacher-forced state
    whole, _ = generator(inputs)
    torch.testing.assert_close(rest, whole[:, 15:], rtol=0, atol=1e-9)


@pytest.mark.parametrize("attention", [False, True])
def test_rollout_of_a_lookback_generator_matches_the_naive_rollout(attention: bool) -> None:
    """The vectorized rollout resumes every prefix from states_along's states, row by row; the naive one
    reruns every prefix from the start token. Same noise: the same completions."""
    generator = lookback_generator(layers=2, attention=attention)
    sequences = generator.sample(3, 16, generator=torch.Generator().manual_seed(9))
    assert (sequences == BAR_ID).sum() >= 8 and (sequences == PART_ID).sum() >= 3
    noise = rollout_noise(3, 16, 2, torch.Generator().manual_seed(10), "cpu")
    naive = naive_rollout_completions(generator, sequences, 2, noise)
    for chunk_size in (1, 7, 100_000):
        assert torch.equal(rollout_completions(generator, sequences, 2, noise, chunk_size=chunk_size), naive)


def test_scheduled_sampling_with_true_inputs_is_teacher_forcing() -> None:
    generator = lookback_generator()
    batch = generator.sample(8, 30, generator=torch.Generator().manual_seed(11))
    loss, sampled = scheduled_sampling_loss(generator, batch, 1.0, torch.Generator().manual_seed(0))
    assert not sampled.any()
    torch.testing.assert_close(loss, generator.mle_loss(batch), rtol=0, atol=1e-9)


def repeated_bars(count: int, seed: int, notes: int = 8, steps: int = 6, bars: int = 4) -> Tensor:
    """Tunes of one random bar (BAR and `steps` notes) played `bars` times, then the end token."""
    bar = torch.randint(4, 4 + notes, (count, steps), generator=torch.Generator().manual_seed(seed))
    one = torch.cat([torch.full((count, 1), BAR_ID), bar], dim=1)
    return torch.cat([one.repeat(1, bars), torch.full((count, 1), END)], dim=1)


def test_lookback_learns_to_repeat_a_bar_the_plain_lstm_of_the_same_size_cannot() -> None:
    train, test = repeated_bars(512, 0), repeated_bars(256, 1)
    repeats = slice(7, 28)  # bars 2-4, which repeat bar 1 (its notes are a fair draw of 8)
    nll = {}
    for with_lookback in (False, True):
        torch.manual_seed(0)
        generator = Generator(12, 8, 16, end_token=END, pad_token=PAD, lookback=with_lookback, bar_token=BAR_ID)
        optimizer = torch.optim.Adam(generator.parameters(), lr=0.02)
        batches = torch.randint(0, len(train), (120, 64), generator=torch.Generator().manual_seed(1))
        for rows in batches:
            optimizer.zero_grad()
            generator.mle_loss(train[rows]).backward()
            optimizer.step()
        with torch.no_grad():
            nll[with_lookback] = float(-generator.log_probs(test)[:, repeats].mean())
    assert nll[False] > 0.5 * math.log(8)  # the plain LSTM barely remembers the bar
    assert nll[True] < 0.1  # lookback copies it


def test_header_inputs_let_a_tune_follow_its_header_long_after_it() -> None:
    """After the header (one of four types, then two fixed tokens), every 16 random steps a marker is
    followed by the note the type names: a small LSTM does not carry the type that far, one that
    reads the header at every step does."""
    def tunes(count: int, seed: int) -> Tensor:
        noise = torch.Generator().manual_seed(seed)
        kind = torch.randint(0, 4, (count, 1), generator=noise)
        pieces = [kind + 8, torch.full((count, 2), 12)]
        for _ in range(4):
            pieces += [torch.randint(4, 8, (count, 15), generator=noise), torch.full((count, 1), 13), kind + 4]
        return torch.cat([*pieces, torch.full((count, 1), END)], dim=1)

    train, test = tunes(512, 0), tunes(256, 1)
    named = [19, 36, 53, 70]  # the notes after the markers
    assert (test[:, named] == (test[:, :1] - 4)).all()
    nll = {}
    for header in (0, 3):
        torch.manual_seed(0)
        generator = Generator(14, 8, 16, end_token=END, pad_token=PAD, lookback=True, bar_token=BAR_ID,
                              header_tokens=header)
        optimizer = torch.optim.Adam(generator.parameters(), lr=0.03)
        for rows in torch.randint(0, len(train), (250, 32), generator=torch.Generator().manual_seed(1)):
            optimizer.zero_grad()
            generator.mle_loss(train[rows]).backward()
            optimizer.step()
        with torch.no_grad():
            nll[header] = float(-generator.log_probs(test)[:, named].mean())
    assert nll[0] > 0.9 * math.log(4)  # a guess among the four
    assert nll[3] < 0.5 * math.log(4)


# --- the config option ---------------------------------------------------------------------------

def test_config_saves_lookback_and_older_configs_load_without_it() -> None:
    config = apply_overrides(preset("folk"), ["generator.lookback=true"])
    assert config_from_toml(config_to_toml(config)).generator.lookback is True
    older = "\n".join(line for line in config_to_toml(preset("folk")).splitlines() if not line.startswith("lookback"))
    assert "lookback" not in older and config_from_toml(older).generator.lookback is False
    with pytest.raises(SeqganError, match="generator.lookback"):
        apply_overrides(preset("folk"), ["generator.lookback=1"])


def music_corpus():
    melodies = [Melody([Note(60 + (i + j) % 8, j * 0.5, j * 0.5 + 0.5) for j in range(32)],
                       bar_lines([(0.0, "4/4")], 16.0), "4/4", Key(0), source=f"t{i}.mid") for i in range(24)]
    return build_music_corpus("tunes", melodies, Grid16(length=34, stride=34), SplitPlan(), {"kind": "midi"})


def test_build_generator_reads_bar_and_part_ids_and_refuses_corpora_without_bar_lines() -> None:
    corpus = music_corpus()
    generator = build_generator(corpus, apply_overrides(preset("quick"), ["generator.lookback=true"]))
    assert generator.lookback == LookbackIds(corpus.vocabulary.id(BAR), corpus.vocabulary.id(PART),
                                             len(corpus.vocabulary) + 1)
    assert build_generator(corpus, preset("quick")).lookback is None
    grammar = build_grammar_corpus("grammar", 15, count=50, seed=1)
    with pytest.raises(SeqganError, match="bar lines"):
        build_generator(grammar, apply_overrides(preset("quick"), ["generator.lookback=true"]))


def test_a_seqgan_run_with_lookback_trains_and_its_checkpoint_loads_and_samples(tmp_path: Path) -> None:
    music_corpus().save(tmp_path)
    config = apply_overrides(preset("quick"), [
        "generator.lookback=true", "generator.embedding=8", "generator.hidden=16", "discriminator.embedding=8",
        "discriminator.filter_scale=0.05", "mle.epochs=1", "mle.batch_size=16", "pretrain_d.rounds=1",
        "pretrain_d.epochs=1", "pretrain_d.negatives=32", "adversarial.rounds=1", "adversarial.negatives=32",
        "adversarial.batch_size=4", "adversarial.rollouts=2", "run.eval_samples=16", "run.samples=2",
        "run.device=cpu", "run.method=seqgan"])
    assert start_run(tmp_path, "tunes", config, "looking").run() == "finished"
    trained = load_trained_run(tmp_path, "looking")
    assert trained.generator.lookback is not None
    samples = trained.generator.sample(3, 34, generator=torch.Generator().manual_seed(1))
    assert samples.shape == (3, 34)
