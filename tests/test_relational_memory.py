"""The relational memory core (RelGAN's generator core): its shapes, that a step reads no later input,
teacher forcing against stepping, rollouts from its states, and learning by MLE."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from seqgan_music.corpora.grammar import build_grammar_corpus
from seqgan_music.models.discriminator import Discriminator, filter_bank
from seqgan_music.models.generator import Generator
from seqgan_music.models.relational_memory import RelationalMemory, relational_parameters
from seqgan_music.training.rollout import naive_rollout_completions, naive_rollout_rewards, rollout_completions, \
    rollout_noise, rollout_rewards

SIZES = [(1, 2, 4), (3, 1, 8), (2, 4, 2)]  # (slots, heads, head_size)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models gain nothing from intra-op threads (and lose much on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def relational(vocab: int = 11, slots: int = 2, heads: int = 2, head_size: int = 4, seed: int = 0,
               **options) -> Generator:
    torch.manual_seed(seed)
    return Generator(vocab, 8, 16, core="relational", memory_slots=slots, memory_heads=heads,
                     memory_head_size=head_size, **options)


def tokens(seed: int, shape: tuple[int, int], vocab: int = 11) -> Tensor:
    return torch.randint(0, vocab, shape, generator=torch.Generator().manual_seed(seed))


def stepped(model: Generator, inputs: Tensor, state=None) -> tuple[Tensor, list]:
    """Logits (B, T, V) and every state, feeding `inputs` (B, T) one `step` at a time."""
    state = model.initial_state(len(inputs)) if state is None else state
    logits, states = [], []
    for t in range(inputs.shape[1]):
        out, state = model.step(inputs[:, t], state)
        logits.append(out)
        states.append(state)
    return torch.stack(logits, dim=1), states


@pytest.mark.parametrize("slots, heads, head_size", SIZES)
def test_memory_output_and_state_have_the_lstm_shapes_and_the_memory_starts_as_identity_rows(
        slots: int, heads: int, head_size: int) -> None:
    torch.manual_seed(0)
    core = RelationalMemory(5, slots, heads, head_size)
    width = heads * head_size
    assert core.hidden_size == slots * width and core.num_layers == 1 and core.input_size == 5
    out, (h, c) = core(torch.randn(3, 7, 5))
    assert out.shape == (3, 7, slots * width) and h.shape == c.shape == (1, 3, slots * width)
    torch.testing.assert_close(h[0], out[:, -1]) and torch.testing.assert_close(c, h)
    start = core.initial_memory(3, out)
    assert start.shape == (3, slots, width)
    assert torch.equal(start[1], torch.eye(slots, width))  # identity rows, zeros after (or cut where width < slots)
    assert sum(p.numel() for p in core.parameters()) == relational_parameters(5, heads, head_size)

    model = relational(13, slots, heads, head_size)
    state = model.initial_state(4)
    assert len(state) == 2 and all(part.shape == (1, 4, slots * width) for part in state)
    assert torch.equal(state[1][0, 2].view(slots, width), torch.eye(slots, width))
    logits, (h, c) = model.step(tokens(1, (4, 1), 13)[:, 0], state)
    assert logits.shape == (4, 13) and h.shape == c.shape == (1, 4, slots * width)
    forced, (h, c) = model(model.shift_right(tokens(2, (4, 6), 13)))
    assert forced.shape == (4, 6, 13) and h.shape == c.shape == (1, 4, slots * width)


@pytest.mark.parametrize("slots, heads, head_size", SIZES)
def test_a_step_reads_no_later_input(slots: int, heads: int, head_size: int) -> None:
    """Changing the inputs after step t changes no output up to t, and changes the outputs after it."""
    model = relational(slots=slots, heads=heads, head_size=head_size)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))  # away from the init, so every input tells
    inputs = tokens(3, (4, 10))
    for t in (0, 4, 8):
        changed = inputs.clone()
        changed[:, t + 1:] = (changed[:, t + 1:] + 1 + tokens(4, (4, 9 - t), 10)) % 11  # every later token differs
        before, _ = model(inputs)
        after, _ = model(changed)
        assert torch.equal(before[:, :t + 1], after[:, :t + 1])
        assert (before[:, t + 1:] - after[:, t + 1:]).abs().amax(dim=-1).min() > 1e-4


@pytest.mark.parametrize("slots, heads, head_size", SIZES)
def test_teacher_forcing_equals_stepping_and_continues_from_a_state(slots: int, heads: int, head_size: int) -> None:
    model = relational(slots=slots, heads=heads, head_size=head_size).double()
    inputs = model.shift_right(tokens(5, (5, 9)))
    forced, (h, c) = model(inputs)
    by_step, states = stepped(model, inputs)
    torch.testing.assert_close(by_step, forced)
    torch.testing.assert_close(states[-1][0], h) and torch.testing.assert_close(states[-1][1], c)
    # From a state: the first five inputs, then the rest from where they left the memory.
    head, head_state = model(inputs[:, :5])
    tail, _ = model(inputs[:, 5:], head_state)
    torch.testing.assert_close(torch.cat([head, tail], dim=1), forced)
    assert model.log_probs(tokens(6, (5, 9))).dtype == torch.float64


def test_states_along_and_the_rollout_from_each_prefix_continue_exactly_like_stepping() -> None:
    """states_along gives the state stepping reaches after each prefix; the vectorized rollout, which
    resumes from those states row by row, draws exactly what the naive one draws by rerunning every
    prefix step by step, and D's rewards agree."""
    vocab, length, batch, rollouts = 9, 7, 4, 3
    model = relational(vocab, slots=2, heads=2, head_size=3, end_token=3, pad_token=0).double()
    with torch.no_grad():
        model.output.weight.mul_(10.0)  # sharper distributions, so a wrong state draws other tokens
    sequences = tokens(7, (batch, length), vocab)
    sequences[sequences == 3] = 4
    h, c, logits = model.states_along(sequences)
    assert h.shape == c.shape == (length - 1, 1, batch, 12) and logits.shape == (length - 1, batch, vocab)
    by_step, states = stepped(model, model.shift_right(sequences))
    for t in range(1, length):
        assert torch.equal(h[t - 1], states[t][0]) and torch.equal(c[t - 1], states[t][1])
        assert torch.equal(logits[t - 1], by_step[:, t])
    noise = rollout_noise(batch, length, rollouts, torch.Generator().manual_seed(2), "cpu")
    fast = rollout_completions(model, sequences, rollouts, noise, chunk_size=5)
    slow = naive_rollout_completions(model, sequences, rollouts, noise)
    assert torch.equal(fast, slow)
    assert (fast != sequences).any()  # the completions really were drawn
    torch.manual_seed(1)
    discriminator = Discriminator(vocab, length, 8, *filter_bank(length, 0.05)).double()
    torch.testing.assert_close(rollout_rewards(model, discriminator, sequences, rollouts, noise, chunk_size=5),
                               naive_rollout_rewards(model, discriminator, sequences, rollouts, noise))


def test_the_core_needs_one_layer_and_a_known_name() -> None:
    with pytest.raises(ValueError, match="layers must be 1"):
        Generator(5, core="relational", layers=2)
    with pytest.raises(ValueError, match="core must be one of lstm, relational"):
        Generator(5, core="transformer")
    with pytest.raises(ValueError, match="head_size"):
        RelationalMemory(4, 1, 2, 0)


def test_the_lstm_generator_is_what_it_was() -> None:
    """The default core keeps its parameter names (saved checkpoints load) and draws its weights
    from the global RNG as before the relational core existed: the LSTM's then the output's."""
    torch.manual_seed(0)
    model = Generator(7, 4, 5)
    assert model.core is model.lstm and not hasattr(model, "relational_memory")
    assert list(model.state_dict()) == ["embedding.weight", "lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0",
                                        "lstm.bias_hh_l0", "output.weight", "output.bias"]
    torch.manual_seed(0)
    torch.nn.Embedding(8, 4), torch.nn.LSTM(4, 5, batch_first=True), torch.nn.Linear(5, 7)  # construction draws
    expected = [torch.empty(shape).normal_(std=0.1) for shape in ((8, 4), (20, 4), (20, 5), (20,))]
    for name, weight in zip(["embedding.weight", "lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0"], expected):
        assert torch.equal(model.state_dict()[name], weight), name


def test_a_relational_generator_learns_the_grammar_by_mle() -> None:
    """Teacher-forced MLE on the toy grammar: the held-out NLL falls from above log V (1.61) to near the
    grammar's own entropy (one of 4 operators in 7 of the 15 positions: 7 log(4) / 15 = 0.65 per token)."""
    corpus = build_grammar_corpus("grammar", 15, count=200, seed=1)
    train, test = (torch.as_tensor(corpus.splits[split], dtype=torch.long) for split in ("train", "test"))
    model = relational(len(corpus.vocabulary), slots=1, heads=2, head_size=8)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    with torch.no_grad():
        first = float(model.nll(test).mean())
    order = torch.Generator().manual_seed(0)
    for _ in range(8):
        for rows in torch.randperm(len(train), generator=order).split(32):
            optimizer.zero_grad()
            model.mle_loss(train[rows]).backward()
            optimizer.step()
    with torch.no_grad():
        last = float(model.nll(test).mean())
    assert first > 1.4 and last < 0.85, (first, last)
