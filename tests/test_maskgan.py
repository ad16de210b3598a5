"""maskgan: in-filling keeps every unmasked token (random and real sequences, both mask kinds), the
masked ones are drawn from the decoder's distribution, in-filling MLE learns to fill from the context on
both sides, the training masks are what the settings say, gradients reach the actor, the critic and D,
the critic learns the returns and the actor climbs D's reward, settings are checked, and runs from the
command line (with adversarial.rounds=0: MLE in-filling); a packed maskgan model loads back whole, and
compose asks it for bars to fill."""

import itertools
import json
import math
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn
from typer.testing import CliRunner

from seqgan_music.cli import app
from seqgan_music.composing.model import load_model
from seqgan_music.config import apply_overrides, config_from_dict, config_to_dict, preset
from seqgan_music.corpora.corpus import load_corpus
from seqgan_music.corpora.grammar import build_grammar_corpus
from seqgan_music.errors import SeqganError
from seqgan_music.models.maskgan import MaskGANGenerator, draw_keep
from seqgan_music.training.launch import start_run
from seqgan_music.training.methods.maskgan import discounted_returns, masked_positions
from seqgan_music.training.runs import read_metrics
from test_tune_training import tune_home
from training_helpers import TINY

SYMBOLS = 5  # the grammar's x + - * /
RUN_NUMBERS = itertools.count()


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("home")
    build_grammar_corpus("grammar", 15, count=200, seed=1).save(folder)
    # Each sequence one symbol 15 times: a masked token is implied by any kept one, wherever it is.
    constant = build_grammar_corpus("constant", 15, count=200, seed=1)
    symbols = torch.Generator().manual_seed(3)
    for split in constant.splits.values():
        split[:] = torch.randint(SYMBOLS, (len(split), 1), generator=symbols).numpy()
    constant.save(folder)
    return folder


def maskgan_config(*extra: str):
    return apply_overrides(preset("quick"), [*TINY, "mle.epochs=2", "adversarial.rounds=2", "run.threads=1",
                                             "run.method=maskgan", *extra])


def tiny_generator(vocab_size: int = 7, seed: int = 0, **options) -> MaskGANGenerator:
    torch.manual_seed(seed)
    return MaskGANGenerator(vocab_size, 8, 16, end_token=vocab_size - 2, pad_token=vocab_size - 1, **options).eval()


def assert_keeps(generator: MaskGANGenerator, tokens: Tensor, keep: Tensor) -> Tensor:
    filled = generator.infill(tokens, keep, generator=torch.Generator().manual_seed(1))
    assert filled.shape == tokens.shape and filled.dtype == torch.long
    assert torch.equal(filled[keep], tokens[keep])
    assert bool(((filled >= 0) & (filled < generator.vocab_size)).all())
    return filled


# ---------------------------------------------------------------------------------- keeping
@pytest.mark.parametrize("kind", ["contiguous", "random"])
def test_infill_keeps_every_unmasked_token_of_random_sequences(kind):
    generator = tiny_generator()
    noise = torch.Generator().manual_seed(0)
    tokens = torch.randint(5, (64, 20), generator=noise)  # no end token: every position counts
    keep = draw_keep(tokens, torch.ones_like(tokens), kind, 0.5, 0.0, noise)
    filled = assert_keeps(generator, tokens, keep)
    assert bool((filled[~keep] != tokens[~keep]).any())  # the masked ones are drawn, not copied


@pytest.mark.parametrize("kind", ["contiguous", "random"])
def test_infill_keeps_every_unmasked_token_of_real_sequences(nottingham_grid16, kind):
    corpus = nottingham_grid16
    tokens = torch.as_tensor(corpus.splits["test"][:128]).long()  # real tunes' windows
    generator = tiny_generator(len(corpus.vocabulary))
    keep = draw_keep(tokens, torch.ones_like(tokens), kind, 0.5, 0.0, torch.Generator().manual_seed(2))
    filled = assert_keeps(generator, tokens, keep)
    assert bool((filled[~keep] != tokens[~keep]).any())


def test_infill_keeps_tokens_whatever_the_mask_and_draws_the_same_fill_from_the_same_seed(home):
    generator = tiny_generator()
    tokens = torch.randint(5, (8, 12), generator=torch.Generator().manual_seed(4))
    every = assert_keeps(generator, tokens, torch.ones_like(tokens, dtype=torch.bool))
    assert torch.equal(every, tokens)
    keep = torch.rand(tokens.shape, generator=torch.Generator().manual_seed(5)) < 0.3
    assert torch.equal(generator.infill(tokens, keep, generator=torch.Generator().manual_seed(6)),
                       generator.infill(tokens, keep, generator=torch.Generator().manual_seed(6)))


def test_banned_tokens_are_never_drawn_and_bad_inputs_are_refused():
    generator = tiny_generator()
    tokens = torch.zeros((200, 6), dtype=torch.long)
    keep = torch.zeros_like(tokens, dtype=torch.bool)
    banned = torch.zeros(7, dtype=torch.bool)
    banned[[1, 2, 5]] = True
    filled = generator.infill(tokens, keep, generator=torch.Generator().manual_seed(0), banned=banned)
    assert not bool(banned[filled].any())
    with pytest.raises(ValueError, match="bool keep"):
        generator.infill(tokens, keep.long())
    with pytest.raises(ValueError, match="outside the vocabulary"):
        generator.infill(torch.full((1, 3), 9), torch.ones((1, 3), dtype=torch.bool))
    with pytest.raises(ValueError, match="no open-ended"):
        generator.step(tokens[:, 0], None)


# ---------------------------------------------------------------------------------- drawing
def test_a_masked_token_is_drawn_from_the_decoders_distribution():
    """One masked position in 4,000 copies of a sequence: the fills' frequencies match the decoder's
    probabilities there (chi-square), at temperature 1 and with top-k."""
    generator = tiny_generator(seed=3)
    rows = 4000
    tokens = torch.tensor([[0, 3, 1, 4, 2, 0, 1]]).expand(rows, -1).clone()
    keep = torch.ones_like(tokens, dtype=torch.bool)
    keep[:, 3:] = False  # position 3 is the first drawn: its distribution does not depend on the noise
    with torch.no_grad():
        logits, _ = generator(tokens[:1], keep[:1])
        probabilities = torch.softmax(logits[0, 3], dim=0)
    filled = generator.infill(tokens, keep, generator=torch.Generator().manual_seed(7))[:, 3]
    counts = torch.bincount(filled, minlength=7).float()
    expected = probabilities * rows
    chi_square = float(((counts - expected) ** 2 / expected).sum())
    assert chi_square < 22.5  # the 0.999 quantile with 6 degrees of freedom
    top = torch.topk(probabilities, 2).indices
    top_filled = generator.infill(tokens, keep, top_k=2, generator=torch.Generator().manual_seed(8))[:, 3]
    assert set(top_filled.tolist()) == set(top.tolist())
    share = float((top_filled == top[0]).float().mean())
    assert share == pytest.approx(float(probabilities[top[0]] / probabilities[top].sum()), abs=0.03)


def test_sampling_is_in_filling_from_nothing_kept_and_log_probs_its_likelihood():
    generator = tiny_generator(seed=2)
    samples = generator.sample(50, 9, generator=torch.Generator().manual_seed(0))
    nothing = torch.zeros((50, 9), dtype=torch.bool)
    filled = generator.infill(torch.zeros((50, 9), dtype=torch.long), nothing, generator=torch.Generator().manual_seed(0))
    ended = generator.token_mask(filled) == 0
    assert torch.equal(samples, filled.masked_fill(ended, generator.pad_token))  # padded after the end token
    assert torch.allclose(generator.log_probs(samples), generator.infill_log_probs(samples, nothing))
    prefix = samples[:, :4]
    continued = generator.sample(50, 9, prefix=prefix, generator=torch.Generator().manual_seed(1))
    assert torch.equal(continued[:, :4], prefix)


# ---------------------------------------------------------------------------------- masks
def test_training_masks_follow_the_kind_the_rate_and_the_full_share():
    noise = torch.Generator().manual_seed(0)
    tokens = torch.zeros((400, 20), dtype=torch.long)
    lengths = torch.randint(4, 21, (400,), generator=noise)
    counted = torch.arange(20).unsqueeze(0) < lengths.unsqueeze(1)  # (B, T)
    keep = draw_keep(tokens, counted, "contiguous", 0.5, 0.0, noise)
    masked = ~keep
    assert torch.equal(masked.sum(dim=1), torch.round(lengths * 0.5).long())  # one span of half of each
    assert not bool((masked & ~counted).any())  # padding is kept
    steps = masked.long().diff(dim=1)
    assert bool(((steps == 1).sum(dim=1) + masked[:, 0].long() == 1).all())  # one span each
    starts = masked.float().argmax(dim=1)
    assert int(starts.min()) == 0 and bool((starts > 0).any())
    random = ~draw_keep(tokens, counted, "random", 0.3, 0.0, noise)
    assert not bool((random & ~counted).any())
    assert float(random.sum() / counted.sum()) == pytest.approx(0.3, abs=0.03)
    whole = draw_keep(tokens, counted, "contiguous", 0.5, 0.5, noise)
    fully = (~whole).all(dim=1)
    assert float(fully.float().mean()) == pytest.approx(0.5, abs=0.08)
    with pytest.raises(ValueError, match="unknown mask kind"):
        draw_keep(tokens, counted, "bars", 0.5, 0.0, noise)


def test_returns_are_discounted_sums_of_the_rewards_from_each_token_on():
    rewards = [1.0, 3.0, -1.0, 4.0]
    gamma = 0.5
    expected = [sum(gamma ** (s - t) * rewards[s] for s in range(t, 4)) for t in range(4)]  # 2.75, 3.5, 1, 4
    assert discounted_returns(torch.tensor([rewards]), gamma)[0].tolist() == pytest.approx(expected)


# ---------------------------------------------------------------------------------- learning
def test_in_filling_mle_fills_from_the_context_after_the_gap(home: Path):
    """Constant sequences with their first 8 of 15 tokens masked: only the kept tokens after the gap
    say the symbol. After in-filling MLE the fill is it 99% of the time (chance: 1 in 5)."""
    trainer = start_run(home, "constant", maskgan_config("mle.epochs=30", "mle.keep_best=false", "adversarial.rounds=0",
                                                         "maskgan.full_mask_share=0"), "constant")
    assert trainer.run() == "finished"
    tokens = torch.arange(SYMBOLS).repeat_interleave(40).unsqueeze(1).expand(-1, 15)
    keep = torch.zeros_like(tokens, dtype=torch.bool)
    keep[:, 8:] = True
    filled = trainer.generator.infill(tokens, keep, generator=torch.Generator().manual_seed(0))
    assert float((filled[:, :8] == tokens[:, :8]).float().mean()) > 0.9


@pytest.fixture
def built(home: Path):
    """A maskgan trainer on the grammar corpus, nothing trained."""
    return start_run(home, "grammar", maskgan_config(), f"built-{next(RUN_NUMBERS)}")


def test_an_adversarial_step_sends_gradients_to_the_actor_the_critic_and_d(built):
    method, generator, discriminator = built.method, built.generator, built.discriminator
    actor, critic, metrics = method.actor_critic(torch.Generator().manual_seed(0))
    assert metrics["reward"] < 0 and math.isfinite(metrics["critic_loss"])
    actor_parameters = dict((name, p) for name, p in generator.named_parameters() if not name.startswith("critic."))
    actor_gradients = torch.autograd.grad(actor, list(actor_parameters.values()), allow_unused=True)
    for name, gradient in zip(actor_parameters, actor_gradients):
        assert gradient is not None and bool(gradient.abs().sum() > 0), name
    assert not actor.requires_grad or all(
        g is None for g in torch.autograd.grad(actor, list(generator.critic.parameters()), allow_unused=True))
    critic_gradients = torch.autograd.grad(critic, list(generator.critic.parameters()))
    assert all(bool(g.abs().sum() > 0) for g in critic_gradients)
    assert all(g is None for g in torch.autograd.grad(critic, list(actor_parameters.values()), allow_unused=True))
    real, keep, filled = method.filled_batch(32, torch.Generator().manual_seed(1))
    loss = method.discriminator_loss(generator, real, filled, keep)
    for name, gradient in zip(dict(discriminator.named_parameters()),
                              torch.autograd.grad(loss, list(discriminator.parameters()))):
        assert bool(gradient.abs().sum() > 0), name


class FavouredToken(nn.Module):
    """A fixed D that calls one token real and every other fake."""

    def __init__(self, token: int) -> None:
        super().__init__()
        self.token = token

    def forward(self, filled: Tensor, keep: Tensor) -> Tensor:
        return torch.where(filled == self.token, 4.0, -4.0)


def share_of(trainer, token: int) -> float:
    generator = trainer.generator
    _, keep, filled = trainer.method.filled_batch(256, torch.Generator().manual_seed(99))
    weight = masked_positions(generator, filled, keep)
    return float(((filled == token) * weight).sum() / weight.sum())


def test_the_critic_learns_the_returns_and_the_actor_climbs_ds_reward(built):
    built.discriminator = FavouredToken(3)
    method = built.method
    first = method.actor_critic(torch.Generator().manual_seed(1))[2]["critic_loss"]
    _, keep, filled = method.filled_batch(512, torch.Generator().manual_seed(0))
    method.fit_critic(keep, filled, 12, 64)  # 96 steps of the critic alone, the generator as it is
    assert method.actor_critic(torch.Generator().manual_seed(1))[2]["critic_loss"] < first / 3  # measured: 223 to 41
    before = share_of(built, 3)
    for _ in range(40):
        method.generator_step()
    after = share_of(built, 3)
    assert after > before + 0.1  # measured: 0.19 to 0.33


def test_d_learns_to_tell_real_tokens_from_an_untrained_generators_fills(built):
    method = built.method
    real, keep, filled = method.filled_batch(1000, torch.Generator().manual_seed(0))
    losses = [method.fit_discriminator(real, keep, filled, 1, 64)["d_loss"] for _ in range(8)]
    assert losses[0] > 0.6 and losses[-1] < 0.4  # measured: 0.68 to 0.16 (at SeqGAN's D rate 1e-4: 0.691)


def test_d_pre_training_also_fits_the_critic_so_the_first_rounds_baseline_is_near_the_returns(home: Path):
    trainer = start_run(home, "grammar", maskgan_config("pretrain_d.negatives=1000", "pretrain_d.epochs=2"),
                        f"critic-{next(RUN_NUMBERS)}")
    method, critic = trainer.method, trainer.generator.critic
    untrained = {k: v.clone() for k, v in critic.state_dict().items()}
    metrics = method.pretrain_d_round(1)
    assert metrics["d_loss"] < 0.69 and metrics["critic_loss"] > 0
    fitted = method.actor_critic(torch.Generator().manual_seed(0))[2]
    critic.load_state_dict(untrained)
    method.return_total = method.return_weight = 0.0
    unfitted = method.actor_critic(torch.Generator().manual_seed(0))[2]  # under the same D
    # measured: squared error 102 to 21, mean advantage -9.2 to -1.8 (returns -9.1 a token)
    assert fitted["critic_loss"] < unfitted["critic_loss"] / 3
    assert abs(fitted["advantage"]) < abs(unfitted["advantage"]) / 3


def test_the_critics_values_are_about_the_running_mean_return(built):
    method = built.method
    out = torch.zeros((2, 3, built.generator.critic[0].in_features))
    plain = built.generator.values(out)
    assert torch.equal(method.values(out), plain)  # no returns seen yet
    method.track_return(-4.0)
    assert torch.allclose(method.values(out), plain - 4.0)
    method.track_return(-2.0)  # (0.9 * -4 - 2) / (0.9 + 1)
    assert torch.allclose(method.values(out), plain + (0.9 * -4.0 - 2.0) / 1.9)


# ---------------------------------------------------------------------------------- runs
def test_settings_are_checked_and_the_decoder_is_a_plain_lstm(home: Path):
    for bad in ("maskgan.mask=bars", "maskgan.mask_rate=0", "maskgan.full_mask_share=1.5", "maskgan.gamma=2",
                "maskgan.critic_hidden=0"):
        with pytest.raises(SeqganError, match=bad.split("=")[0]):
            maskgan_config(bad)
    with pytest.raises(SeqganError, match="generator.core=lstm"):
        start_run(home, "grammar", maskgan_config("generator.core=relational"), "relational")


def test_runs_saved_before_d_had_its_own_optimizer_still_load_and_resume(built):
    old = config_to_dict(built.config)
    del old["maskgan"]["discriminator_learning_rate"]
    assert config_from_dict(old).maskgan.discriminator_learning_rate == 1e-4  # pretrain_d.learning_rate, as then
    built.method.train_discriminator(64, 1, 32)
    state = {"maskgan": {"critic_optimizer": built.method.critic_optimizer.state_dict()},
             "optimizers": {"discriminator": built.method.discriminator_optimizer.state_dict()}}
    built.method.track_return(-3.0)
    built.method.load_state_dict(state)
    assert built.method.discriminator_optimizer.state_dict()["state"]  # D's moments, from the trainer's optimizer
    assert built.method.return_weight == 0.0


def test_mle_in_filling_alone_is_a_run_without_adversarial_rounds(home: Path):
    trainer = start_run(home, "grammar", maskgan_config("adversarial.rounds=0"), "mle-infilling")
    initial_d = {k: v.clone() for k, v in trainer.discriminator.state_dict().items()}
    assert trainer.run() == "finished"
    records = read_metrics(trainer.folder)
    assert [r["phase"] for r in records] == ["mle", "mle", "pretrain_d"]
    assert "d_loss" not in records[-1]  # no D pre-training: nothing would use it
    assert all(torch.equal(v, trainer.discriminator.state_dict()[k]) for k, v in initial_d.items())
    assert records[1]["nll_infill"] > 0 and records[1]["nll_test"] > 0


def test_train_generate_and_evaluate_maskgan_from_the_command_line(home: Path, tmp_path: Path):
    settings = [*TINY, "mle.epochs=2", "adversarial.rounds=2", "adversarial.eval_every=1", "adversarial.d_steps=2",
                "run.threads=1"]
    runner = CliRunner()
    result = runner.invoke(app, ["train", "grammar", "--method", "maskgan", "--preset", "quick", "--run", "m",
                                 *(f"--set={s}" for s in settings), "--home", str(home)])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (home / "checkpoints" / "m" / "metrics.jsonl").read_text().splitlines()]
    assert [r["phase"] for r in records] == ["mle", "mle", "pretrain_d", "adversarial", "adversarial"]
    assert all(math.isfinite(r["critic_loss"]) and r["reward"] < 0 and "nll_infill" in r and "d_loss" in r
               for r in records[3:])
    generated = runner.invoke(app, ["generate", "m", "--n", "3", "--out", str(tmp_path / "out"), "--home", str(home)])
    assert generated.exit_code == 0, generated.output
    lines = (tmp_path / "out" / "m-seed0.txt").read_text().splitlines()
    assert len(lines) == 3 and all(set(line.split()) <= {"x", "+", "-", "*", "/"} for line in lines)
    evaluated = runner.invoke(app, ["evaluate", "m", "--samples", "20", "--metrics", "goodness,nll-test",
                                    "--home", str(home)])
    assert evaluated.exit_code == 0, evaluated.output
    baseline = runner.invoke(app, ["train", "grammar", "--method", "maskgan", "--preset", "quick", "--run", "m0",
                                   *(f"--set={s}" for s in settings), "--set=adversarial.rounds=0", "--home", str(home)])
    assert baseline.exit_code == 0, baseline.output  # MLE in-filling alone
    assert [json.loads(line)["phase"] for line in (home / "checkpoints" / "m0" / "metrics.jsonl").read_text().splitlines()] \
        == ["mle", "mle", "pretrain_d"]


def test_a_packed_maskgan_model_loads_back_fills_as_its_run_and_compose_asks_for_fill(tmp_path: Path):
    home = tune_home(tmp_path / "home")
    config = apply_overrides(preset("quick"), [*TINY, "mle.epochs=1", "mle.batch_size=4", "adversarial.rounds=0",
                                               "run.threads=1", "run.eval_samples=4", "run.samples=1",
                                               "run.method=maskgan", "maskgan.bidirectional=false",
                                               "maskgan.critic_hidden=4"])
    assert start_run(home, "tunes", config, "mg").run() == "finished"
    runner = CliRunner()
    packed = tmp_path / "packed"
    result = runner.invoke(app, ["pack", "mg", "--out", str(packed), "--home", str(home)])
    assert result.exit_code == 0, result.output
    assert json.loads((packed / "model.json").read_text())["generator"]["maskgan"] == {"bidirectional": False,
                                                                                      "critic_hidden": 4}
    run, loaded = load_model(home, "mg"), load_model(home, str(packed))
    assert type(loaded.generator) is MaskGANGenerator
    for name, weights in run.generator.state_dict().items():  # encoder, attention and critic included
        assert torch.equal(weights, loaded.generator.state_dict()[name]), name
    window = torch.as_tensor(load_corpus(home, "tunes").splits["train"][:2]).long()
    keep = torch.ones_like(window, dtype=torch.bool)
    keep[:, 4:12] = False
    fills = [model.generator.infill(window, keep, generator=torch.Generator().manual_seed(3)) for model in (run, loaded)]
    assert torch.equal(fills[0], fills[1]) and torch.equal(fills[0][keep], window[keep])
    composed = runner.invoke(app, ["compose", "--run", "mg", "--n", "1", "--bars", "2", "--out", str(tmp_path / "out"),
                                   "--home", str(home)])
    assert composed.exit_code == 1 and "compose --fill" in composed.output
    assert "Traceback" not in composed.output and len(composed.output.strip().splitlines()) <= 2
