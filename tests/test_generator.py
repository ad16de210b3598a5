"""The generator LSTM (teacher forcing, stepping, masking, sampling, rollout states) and draw()."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seqgan_music.models.generator import Generator
from seqgan_music.models.sampling import draw, uniforms


def tokens(seed: int, shape: tuple[int, int], vocab: int) -> torch.Tensor:
    return torch.randint(0, vocab, shape, generator=torch.Generator().manual_seed(seed))


def stepped(model: Generator, sequences: torch.Tensor) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
    """Logits (B, T, V) and every state, by feeding the start token and then each token with `step`."""
    inputs = model.shift_right(sequences)
    state = model.initial_state(len(sequences))
    logits, states = [], []
    for t in range(sequences.shape[1]):
        out, state = model.step(inputs[:, t], state)
        logits.append(out)
        states.append(state)
    return torch.stack(logits, dim=1), states


@pytest.mark.parametrize("layers", [1, 2])
def test_step_gives_the_logits_of_teacher_forcing(layers: int) -> None:
    torch.manual_seed(0)
    model = Generator(11, 8, 16, layers=layers)
    sequences = tokens(1, (5, 9), 11)
    forced, _ = model(model.shift_right(sequences))
    by_step, _ = stepped(model, sequences)
    assert forced.shape == (5, 9, 11)
    torch.testing.assert_close(by_step, forced, rtol=1e-5, atol=1e-6)


def test_shift_right_puts_the_start_token_first() -> None:
    model = Generator(7, start_token=3)
    sequences = torch.tensor([[1, 2, 4], [5, 6, 0]])
    assert model.shift_right(sequences).tolist() == [[3, 1, 2], [3, 5, 6]]


def test_default_start_token_is_an_extra_row_that_is_never_sampled() -> None:
    torch.manual_seed(0)
    model = Generator(4, 8, 8)
    assert model.start_token == 4
    assert model.embedding.num_embeddings == 5 and model.output.out_features == 4
    with torch.no_grad():
        model.output.bias[:] = 0.0
        model.output.weight[:] = 0.0  # uniform over the real tokens
    samples = model.sample(2000, 5, generator=torch.Generator().manual_seed(0))
    assert samples.min() >= 0 and samples.max() <= 3
    assert set(samples.unique().tolist()) == {0, 1, 2, 3}


def test_oracle_style_start_token_zero_is_a_normal_token() -> None:
    torch.manual_seed(0)
    model = Generator(6, start_token=0)
    assert model.start_token == 0 and model.embedding.num_embeddings == 6
    sequences = tokens(2, (3, 4), 6)
    assert model.shift_right(sequences)[:, 0].tolist() == [0, 0, 0]
    assert model.nll(sequences).shape == (3,)
    assert model.sample(3, 4, generator=torch.Generator().manual_seed(1)).shape == (3, 4)


def test_bad_tokens_are_rejected() -> None:
    with pytest.raises(ValueError, match="start_token"):
        Generator(5, start_token=5)
    with pytest.raises(ValueError, match="end_token"):
        Generator(5, end_token=-1)


def test_token_mask_counts_up_to_and_including_the_first_end() -> None:
    model = Generator(6, end_token=1, pad_token=0)
    sequences = torch.tensor([[2, 3, 1, 4, 1], [1, 2, 2, 2, 2], [2, 2, 2, 2, 2]])
    assert model.token_mask(sequences).tolist() == [[1, 1, 1, 0, 0], [1, 0, 0, 0, 0], [1, 1, 1, 1, 1]]
    assert Generator(6).token_mask(sequences).tolist() == [[1.0] * 5] * 3


def test_log_probs_agree_with_the_masked_nll() -> None:
    torch.manual_seed(0)
    model = Generator(6, 8, 8, end_token=1, pad_token=0)
    sequences = torch.tensor([[2, 3, 1, 0, 0], [4, 4, 4, 4, 4], [1, 0, 0, 0, 0]])
    mask = model.token_mask(sequences)
    total = (model.log_probs(sequences) * mask).sum(dim=1)
    torch.testing.assert_close(total, -model.nll(sequences) * mask.sum(dim=1))
    torch.testing.assert_close(model.mle_loss(sequences), -total.sum() / mask.sum())


def test_sample_pads_after_the_end_token() -> None:
    torch.manual_seed(0)
    for pad, fill in ((0, 0), (None, 1)):
        model = Generator(4, 8, 8, end_token=1, pad_token=pad)
        samples = model.sample(500, 12, generator=torch.Generator().manual_seed(3))
        ended = (samples == 1).long()
        after = (torch.cumsum(ended, dim=1) - ended) > 0
        assert after.any(), "with 4 tokens some sequences must end early"
        assert (samples[after] == fill).all()


def test_sample_is_reproducible_by_seed() -> None:
    torch.manual_seed(0)
    model = Generator(50, 8, 8)
    first = model.sample(40, 10, generator=torch.Generator().manual_seed(7), batch_size=16)
    again = model.sample(40, 10, generator=torch.Generator().manual_seed(7), batch_size=16)
    other = model.sample(40, 10, generator=torch.Generator().manual_seed(8), batch_size=16)
    assert first.shape == (40, 10) and first.dtype == torch.long
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_low_temperature_and_top_1_pick_the_argmax() -> None:
    torch.manual_seed(0)
    logits = torch.randn(300, 20)
    u = uniforms(300, torch.Generator().manual_seed(0), "cpu")
    assert torch.equal(draw(logits, u, top_k=1), logits.argmax(dim=1))
    assert torch.equal(draw(logits, u, temperature=1e-3), logits.argmax(dim=1))
    assert not torch.equal(draw(logits, u), logits.argmax(dim=1))


def test_generator_top_1_sampling_is_greedy_decoding() -> None:
    torch.manual_seed(0)
    model = Generator(30, 8, 8)
    greedy = model.sample(5, 6, top_k=1, generator=torch.Generator().manual_seed(0))
    previous, state = torch.full((5,), model.start_token), model.initial_state(5)
    for t in range(6):
        logits, state = model.step(previous, state)
        previous = logits.argmax(dim=1)
        assert torch.equal(greedy[:, t], previous)


def test_draw_is_an_exact_categorical_sampler() -> None:
    probabilities = torch.tensor([0.1, 0.0, 0.6, 0.3])
    logits = probabilities.log().expand(4, 4)
    u = torch.tensor([0.05, 0.1, 0.69, 0.999999])
    assert draw(logits, u).tolist() == [0, 2, 2, 3]
    counts = torch.bincount(draw(probabilities.log().expand(100_000, 4), torch.rand(100_000)), minlength=4)
    torch.testing.assert_close(counts / 100_000, probabilities, atol=0.01, rtol=0)


@pytest.mark.parametrize("vocab", [1, 2, 3, 7, 50, 101, 5000])
def test_blockwise_draw_inverts_the_whole_cumulative_distribution(vocab: int) -> None:
    """The two-level search picks the token a plain inverse CDF over all V tokens picks."""
    torch.manual_seed(vocab)
    logits = torch.randn(2000, vocab, dtype=torch.float64) * 3  # float64: no rounding ties at the edges
    u = torch.rand(2000, dtype=torch.float64)
    cumulative = torch.cumsum(torch.softmax(logits, dim=1), dim=1)  # (R, V)
    expected = torch.searchsorted(cumulative, (u * cumulative[:, -1]).unsqueeze(1), right=True).squeeze(1)
    assert torch.equal(draw(logits, u), expected.clamp(max=vocab - 1))


def test_draw_never_returns_a_token_without_probability() -> None:
    logits = torch.tensor([[0.0, 5.0, -1.0, 9.0], [0.0, 5.0, -1.0, 9.0]])
    u = torch.tensor([1.0 - 2**-24, 0.0])
    assert draw(logits, u, top_k=2).tolist() == [3, 1]  # the top 2 are tokens 1 and 3
    assert draw(logits.to(torch.bfloat16), u, top_k=2).tolist() == [3, 1]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.floats(-30, 30), st.just(float("-inf"))), min_size=1, max_size=12),
       st.floats(0, 1, exclude_max=True), st.integers(0, 12), st.sampled_from([0.05, 1.0, 7.0]))
def test_draw_only_returns_tokens_that_could_be_drawn(row: list[float], u: float, top_k: int, temperature: float) -> None:
    if all(x == float("-inf") for x in row):
        row[0] = 0.0
    logits = torch.tensor([row])
    token = int(draw(logits, torch.tensor([u]), temperature, top_k)[0])
    assert logits[0, token] > float("-inf")
    if top_k:
        assert (logits[0] > logits[0, token]).sum() < top_k


def test_draw_rejects_bad_settings() -> None:
    logits, u = torch.zeros(2, 3), torch.zeros(2)
    with pytest.raises(ValueError, match="temperature"):
        draw(logits, u, temperature=0.0)
    with pytest.raises(ValueError, match="top_k"):
        draw(logits, u, top_k=-1)
    with pytest.raises(ValueError, match="uniforms"):
        draw(logits, torch.zeros(3))
    assert draw(logits, u, top_k=0).shape == (2,)


@pytest.mark.parametrize("layers", [1, 2])
def test_states_along_equals_stepping(layers: int) -> None:
    torch.manual_seed(0)
    model = Generator(13, 8, 6, layers=layers)
    sequences = tokens(4, (3, 7), 13)
    h, c, logits = model.states_along(sequences)
    assert h.shape == c.shape == (6, layers, 3, 6) and logits.shape == (6, 3, 13)
    by_step, states = stepped(model, sequences)
    for t in range(1, 7):  # prefix x_1..x_t has been consumed after step t (start token at step 0)
        assert torch.equal(h[t - 1], states[t][0])
        assert torch.equal(c[t - 1], states[t][1])
        assert torch.equal(logits[t - 1], by_step[:, t])
    empty_h, _, empty_logits = model.states_along(sequences[:, :1])
    assert empty_h.shape == (0, layers, 3, 6) and empty_logits.shape == (0, 3, 13)


def test_mle_overfits_a_tiny_corpus() -> None:
    """Four distinct sequences from one start token: only the first token stays uncertain (1/4 each)."""
    torch.manual_seed(0)
    corpus = tokens(5, (4, 8), 6)
    assert len(set(corpus[:, 0].tolist())) == 4
    model = Generator(6, 16, 32)
    optimiser = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(300):
        optimiser.zero_grad()
        model.mle_loss(corpus).backward()
        optimiser.step()
    with torch.no_grad():
        log_probs = model.log_probs(corpus)
        assert -log_probs[:, 1:].mean() < 0.1  # everything after the first token is learnt
        torch.testing.assert_close(log_probs[:, 0].exp(), torch.full((4,), 0.25), atol=0.02, rtol=0)
        assert (model.nll(corpus) - math.log(4) / 8).max() < 0.1  # the floor is log(4) / 8 nats


def test_works_in_float64() -> None:
    torch.manual_seed(0)
    model = Generator(9, 8, 8, layers=2, end_token=2).double()
    sequences = tokens(6, (4, 5), 9)
    assert model.initial_state(4)[0].dtype == torch.float64
    assert model.log_probs(sequences).dtype == torch.float64
    assert model.nll(sequences).dtype == torch.float64
    model.mle_loss(sequences).backward()
    h, _, logits = model.states_along(sequences)
    assert h.dtype == logits.dtype == torch.float64
    forced, _ = model(model.shift_right(sequences))
    torch.testing.assert_close(logits, forced[:, 1:].transpose(0, 1))
    assert model.sample(4, 5, generator=torch.Generator().manual_seed(0)).shape == (4, 5)
