"""The relational memory core (RelGAN's generator core): its shapes, that a step reads no later input,
teacher forcing against stepping, rollouts from its states, and learning by MLE."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import Tensor
from typer.testing import CliRunner

from seqgan_music.cli import app
from seqgan_music.composing.model import load_packed, pack_run
from seqgan_music.config import CORES, METHODS, apply_overrides, config_from_toml, config_to_toml, preset
from seqgan_music.corpora.corpus import load_corpus
from seqgan_music.corpora.grammar import build_grammar_corpus
from seqgan_music.errors import SeqganError
from seqgan_music.models.discriminator import Discriminator, filter_bank
from seqgan_music.models.generator import CORES as GENERATOR_CORES
from seqgan_music.models.generator import Generator
from seqgan_music.models.relational_memory import RelationalMemory, relational_parameters
from seqgan_music.training import budget
from seqgan_music.training.budget import check_budget, estimate_memory
from seqgan_music.training.build import build_generator
from seqgan_music.training.generation import load_trained_run
from seqgan_music.training.launch import start_run
from seqgan_music.training.methods import method_class
from seqgan_music.training.model_sizes import generator_parameters
from seqgan_music.training.rollout import naive_rollout_completions, naive_rollout_rewards, rollout_completions, \
    rollout_noise, rollout_rewards
from test_methods import assert_resumes_exactly, tiny
from tests.test_lookback import music_corpus
from training_helpers import TINY

runner = CliRunner()

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


# --- settings, building, the memory estimate, training runs ----------------------------------------

RELATIONAL = ("generator.core=relational", "generator.memory_slots=2", "generator.memory_heads=2",
              "generator.memory_head_size=4")


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("home")
    build_grammar_corpus("grammar", 15, count=64, seed=1).save(folder)
    return folder


def test_the_core_is_a_setting_that_older_configs_read_as_the_lstm() -> None:
    assert CORES == GENERATOR_CORES
    config = apply_overrides(preset("quick"), list(RELATIONAL))
    saved = config_from_toml(config_to_toml(config)).generator
    assert (saved.core, saved.memory_slots, saved.memory_heads, saved.memory_head_size) == ("relational", 2, 2, 4)
    older = "\n".join(line for line in config_to_toml(preset("folk")).splitlines()
                      if not line.startswith(("core", "memory_")))
    assert "core" not in older and "memory_slots" not in older
    loaded = config_from_toml(older).generator
    assert (loaded.core, loaded.memory_slots, loaded.memory_heads, loaded.memory_head_size) == ("lstm", 1, 2, 32)
    for setting, rule in (("generator.core=gru", "one of lstm, relational"), ("generator.memory_slots=0", ">= 1"),
                          ("generator.memory_heads=257", "<= 256"), ("generator.memory_head_size=1000001", "<= 1000000")):
        with pytest.raises(SeqganError, match=rf"^{setting.split('=')[0]} must be .*{rule}"):
            apply_overrides(preset("quick"), [setting])


def test_the_run_builds_the_core_it_asks_for_and_refuses_what_does_not_fit(home) -> None:
    corpus = load_corpus(home, "grammar")
    generator = build_generator(corpus, apply_overrides(preset("quick"), list(RELATIONAL)))
    assert isinstance(generator.core, RelationalMemory) and not hasattr(generator, "lstm")
    assert (generator.core.slots, generator.core.heads, generator.core.head_size) == (2, 2, 4)
    assert generator.output.in_features == 16
    assert isinstance(build_generator(corpus, preset("quick")).core, torch.nn.LSTM)
    with pytest.raises(SeqganError, match="set generator.layers=1"):
        build_generator(corpus, apply_overrides(preset("quick"), [*RELATIONAL, "generator.layers=2"]))
    with pytest.raises(SeqganError, match="leakgan's Worker is an LSTM: set generator.core=lstm"):
        method_class("leakgan").build_generator(corpus, apply_overrides(preset("quick"), list(RELATIONAL)))


def test_the_memory_estimate_counts_the_relational_core() -> None:
    config = apply_overrides(preset("quick"), ["generator.core=relational", "generator.memory_slots=3"])
    g = config.generator
    built = Generator(40, g.embedding, g.hidden, core="relational", memory_slots=3, memory_heads=g.memory_heads,
                      memory_head_size=g.memory_head_size)
    assert generator_parameters(config, 40) == sum(p.numel() for p in built.parameters())
    lstm = estimate_memory(preset("quick"), 40, 20)
    wide = estimate_memory(apply_overrides(config, ["generator.memory_head_size=256"]), 40, 20)
    assert wide.generator_weights > 40 * lstm.generator_weights  # (2 x 256)^2 weights and more, against 64^2


def test_a_too_large_memory_is_refused_naming_its_size_and_what_fits(monkeypatch) -> None:
    monkeypatch.setattr(budget, "machine_memory", lambda: 2 * 10**9)
    config = apply_overrides(preset("quick"), ["generator.core=relational", "generator.memory_head_size=20000",
                                               "generator.hidden=64"])
    with pytest.raises(SeqganError) as refused:
        check_budget(config, 80, 64)
    message = str(refused.value)
    assert "generator.memory_head_size=20000" in message, message
    fits = int(message.rsplit("generator.memory_head_size=", 1)[1])
    assert estimate_memory(apply_overrides(config, [f"generator.memory_head_size={fits}"]), 80, 64).total <= 2e9
    assert estimate_memory(apply_overrides(config, [f"generator.memory_head_size={fits + 1}"]), 80, 64).total > 2e9


@pytest.mark.parametrize("method", METHODS)
def test_every_method_with_the_standard_generator_trains_a_relational_one(home, method) -> None:
    config = tiny(method, *RELATIONAL, "mle.epochs=1", "adversarial.rounds=1", "scheduled_sampling.epochs=1")
    if method in ("leakgan", "vae", "arae", "maskgan"):  # their own generators: the Worker, the encoders and decoders are LSTMs
        with pytest.raises(SeqganError, match="generator.core=lstm"):
            start_run(home, "grammar", config, f"every-{method}")
        return
    trainer = start_run(home, "grammar", config, f"every-{method}")
    assert trainer.run() == "finished"
    assert isinstance(trainer.generator.core, RelationalMemory)
    assert isinstance(load_trained_run(home, f"every-{method}").generator.core, RelationalMemory)


def test_a_relational_seqgan_run_resumes_bit_identically(home) -> None:
    whole = assert_resumes_exactly(home, "seqgan", "relational", *RELATIONAL)
    assert isinstance(whole.generator.core, RelationalMemory)


def test_train_generate_and_evaluate_a_relational_run_from_the_command_line(home) -> None:
    sets = [f"--set={setting}" for setting in (*TINY, *RELATIONAL, "mle.epochs=1", "adversarial.rounds=1",
                                                "run.threads=1")]
    result = runner.invoke(app, ["train", "grammar", "--method", "seqgan", "--preset", "quick", *sets,
                                 "--run", "cli", "--home", str(home)])
    assert result.exit_code == 0, result.output
    saved = (home / "checkpoints" / "cli" / "config.toml").read_text()
    assert 'core = "relational"' in saved and "memory_head_size = 4" in saved
    outputs = []
    for out in ("a", "b"):
        generated = runner.invoke(app, ["generate", "cli", "--n", "4", "--seed", "3", "--out", str(home / out),
                                        "--home", str(home)])
        assert generated.exit_code == 0, generated.output
        (listing,) = (home / out).glob("*.txt")
        outputs.append(listing.read_text())
    assert outputs[0] == outputs[1] and outputs[0].count("\n") == 4
    evaluated = runner.invoke(app, ["evaluate", "cli", "--samples", "20", "--metrics", "goodness,nll-test",
                                    "--home", str(home)])
    assert evaluated.exit_code == 0, evaluated.output
    assert "NLL" in evaluated.output
    refused = runner.invoke(app, ["train", "grammar", "--method", "mle", "--preset", "quick", *sets,
                                  "--set=generator.core=gru", "--run", "bad", "--home", str(home)])
    assert refused.exit_code == 1 and "generator.core must be one of lstm, relational" in refused.output


def test_with_lookback_and_bar_attention_it_trains_on_whole_tunes_steps_as_it_is_forced_and_packs(tmp_path) -> None:
    corpus = music_corpus()
    corpus.save(tmp_path)
    config = apply_overrides(preset("tunes-quick"), [
        *RELATIONAL, "generator.embedding=8", "mle.epochs=1", "mle.batch_size=16", "run.eval_samples=16",
        "run.samples=2", "run.device=cpu", "run.threads=1", "run.method=mle"])
    assert config.generator.lookback and config.generator.attention and config.generator.header_inputs
    assert start_run(tmp_path, "tunes", config, "remembering").run() == "finished"
    trained = load_trained_run(tmp_path, "remembering").generator
    assert isinstance(trained.core, RelationalMemory) and trained.attention is not None
    tunes = torch.as_tensor(corpus.splits["train"][:3], dtype=torch.long)
    with torch.no_grad():
        forced, _ = trained(trained.shift_right(tunes))
        by_step, _ = stepped(trained, trained.shift_right(tunes))
    torch.testing.assert_close(by_step, forced, rtol=1e-4, atol=1e-5)
    packed = load_packed(pack_run(tmp_path, "remembering", tmp_path / "packed")).generator
    assert isinstance(packed.core, RelationalMemory) and (packed.core.slots, packed.core.head_size) == (2, 4)
    drawn = [model.sample(4, 34, generator=torch.Generator().manual_seed(3)) for model in (trained, packed)]
    assert torch.equal(*drawn)
