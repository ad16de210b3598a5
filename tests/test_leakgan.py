"""LeakGAN: the Worker's output follows the Manager's goal, goals are unit vectors in D's feature
space summed over the last c steps, the features are D's of the prefix written so far, the rewards
are rank-rescaled per block of c tokens, MLE epochs interleave the adversarial rounds, and a run
trains, generates and evaluates from the command line (on windows and on whole tunes)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch.nn import functional
from typer.testing import CliRunner

from seqgan_music.cli import app
from seqgan_music.config import apply_overrides, preset
from seqgan_music.corpora.grammar import build_grammar_corpus
from seqgan_music.errors import SeqganError
from seqgan_music.models.discriminator import EMPTY, Discriminator
from seqgan_music.models.leakgan import (LeakGANGenerator, intrinsic_rewards, manager_loss, transition_cosines,
                                         weighted_nll)
from seqgan_music.models.prefix_features import features_along, features_step, initial_running_max, padded_to
from seqgan_music.training.generation import load_trained_run
from seqgan_music.training.launch import start_run
from seqgan_music.training.methods.leakgan import block_rewards, rescaled_ranks
from seqgan_music.training.optimization import descend
from seqgan_music.training.runs import read_metrics
from test_tune_training import tune_home
from training_helpers import TINY

VOCAB, LENGTH, END, PAD = 9, 12, 1, 0
runner = CliRunner()


def model(horizon: int = 3) -> tuple[LeakGANGenerator, Discriminator]:
    torch.manual_seed(0)
    discriminator = Discriminator(VOCAB, LENGTH, 8, (1, 2, 3), (3, 4, 5))
    generator = LeakGANGenerator(VOCAB, discriminator, 8, 16, 12, 4, horizon, end_token=END, pad_token=PAD)
    with torch.no_grad():
        for parameter in generator.parameters():
            parameter.mul_(5.0)  # visibly different distributions and goals
    return generator.double(), discriminator.double()


def sequences() -> torch.Tensor:
    rows = [[2, 3, 4, 5, 6, 7, 8, 2, 3, 4, 5, 6],
            [3, 3, 3, END, PAD, PAD, PAD, PAD, PAD, PAD, PAD, PAD],
            [8, 7, 6, 5, 4, 3, 2, 8, 7, 6, END, PAD]]
    return torch.tensor(rows)


def test_the_workers_output_is_its_embedding_matrix_times_the_projected_goal_and_changes_with_it():
    generator, _ = model()
    torch.manual_seed(1)
    hidden = torch.randn(2, 16, dtype=torch.double)
    goals = functional.normalize(torch.randn(2, 2, generator.goal.out_features, dtype=torch.double), dim=-1)
    first, second = (generator.worker_logits(hidden, goals[:, i]) for i in range(2))
    assert not torch.allclose(first, second)  # the same Worker state, another goal: other logits
    matrix = (hidden @ generator.output.weight.T + generator.output.bias).view(2, VOCAB, 4)  # O_t (B, V, k)
    w = functional.normalize(goals[:, 0] @ generator.goal_projection.weight.T, dim=-1)  # psi, no bias, unit length
    assert torch.allclose(first, (matrix @ w.unsqueeze(2)).squeeze(2))
    assert generator.goal_projection.bias is None


def test_the_worker_follows_the_direction_of_the_projected_goal_so_psi_cannot_set_a_temperature():
    generator, _ = model()
    torch.manual_seed(1)
    hidden = torch.randn(2, 16, dtype=torch.double)
    goal_sums = torch.randn(2, generator.goal.out_features, dtype=torch.double)
    logits = generator.worker_logits(hidden, goal_sums)
    with torch.no_grad():
        generator.goal_projection.weight.mul_(10.0)
    assert torch.allclose(generator.worker_logits(hidden, goal_sums), logits)
    assert torch.allclose(generator.worker_logits(hidden, 3.0 * goal_sums), logits)


def test_one_adam_step_rewarding_the_tokens_the_worker_favours_does_not_collapse_it():
    """The oracle sweep's collapse: D's features are wide (1,720 there) and the Manager's goals nearly
    the same at every step, so one Adam step (each weight moving by about the learning rate) on the
    goal projection lengthened w_t for every token at once: NLL_test 8.5 -> 12 after one round.
    Rewarding the tokens the Worker already favours (as its intrinsic reward does once MLE has aligned
    goals and tokens) sharpens it a little per step (2% here), not by a third (31% with w_t unnormalised)."""
    torch.manual_seed(0)
    discriminator = Discriminator(50, LENGTH, 8, (1, 2, 3), (100, 100, 100))  # 300 features
    generator = LeakGANGenerator(50, discriminator, 8, 16, 12, 4, 4)
    with torch.no_grad():
        for parameter in generator.parameters():
            parameter.mul_(5.0)
    generator.double()
    samples = generator.sample(64, LENGTH, generator=torch.Generator().manual_seed(1))

    def entropy() -> float:
        with torch.no_grad():
            log_probs = generator.teacher_forced(samples).logits.log_softmax(-1)
        return float(-(log_probs.exp() * log_probs).sum(-1).mean())

    before = entropy()
    logits = generator.teacher_forced(samples).logits
    favoured = (logits.gather(2, samples.unsqueeze(2)).squeeze(2) > logits.mean(dim=-1)).double()
    loss = weighted_nll(logits, samples, favoured, generator.token_mask(samples))
    descend(loss, list(generator.parameters()), torch.optim.Adam(generator.parameters(), lr=0.01), 5.0)
    assert entropy() > 0.9 * before


def test_a_step_with_the_same_worker_state_but_other_goals_gives_other_logits():
    generator, _ = model()
    state = generator.initial_state(2)
    _, state = generator.step(torch.full((2,), generator.start_token), state)
    other = state._replace(goals=-state.goals)
    token = torch.tensor([2, 3])
    assert not torch.allclose(generator.step(token, state)[0], generator.step(token, other)[0])
    assert torch.equal(generator.step(token, state)[0], generator.step(token, state)[0])


def test_goals_are_unit_vectors_in_ds_feature_space():
    generator, discriminator = model()
    passed = generator.teacher_forced(sequences())
    features = sum(conv.out_channels for conv in discriminator.convs)
    assert passed.goals.shape == (3, LENGTH, features) and passed.features.shape == (3, LENGTH + 1, features)
    assert torch.allclose(passed.goals.norm(dim=-1), torch.ones(3, LENGTH, dtype=torch.double))
    state = generator.initial_state(3)
    for token in [generator.start_token, 2, 3]:
        _, state = generator.step(torch.full((3,), token), state)
    assert torch.allclose(state.goals.norm(dim=-1), torch.ones(3, 3, dtype=torch.double))  # the last c goals


@pytest.mark.parametrize("horizon", [1, 3, 5])
def test_the_goal_of_each_step_sums_the_last_c_goals_the_same_stepping_as_teacher_forced(horizon):
    generator, _ = model(horizon)
    rows = sequences()
    passed = generator.teacher_forced(rows)
    sums = generator.goal_sums(passed.goals)
    for t in range(LENGTH):
        assert torch.allclose(sums[:, t], passed.goals[:, max(0, t - horizon + 1):t + 1].sum(dim=1))
    stepped, state = generator(generator.shift_right(rows), generator.initial_state(3))
    assert state.goals.shape == (3, horizon, passed.goals.shape[2])
    assert torch.allclose(stepped, passed.logits)
    assert torch.allclose(generator(generator.shift_right(rows))[0], passed.logits)
    assert transition_cosines(passed.features, passed.goals, horizon).shape == (3, math.ceil(LENGTH / horizon))


def test_the_state_after_a_teacher_forced_prefix_continues_as_stepping_through_it_would():
    generator, _ = model()
    inputs = generator.shift_right(sequences())
    stepped, _ = generator(inputs, generator.initial_state(3))
    _, state = generator(inputs[:, :5])
    continued, _ = generator(inputs[:, 5:], state)
    assert torch.allclose(continued, stepped[:, 5:])


def test_the_features_are_ds_highway_features_of_the_prefix_written_so_far():
    generator, discriminator = model()
    rows = sequences()
    features = generator.prefix_features(rows)
    for t in (0, 4, LENGTH):
        prefix = torch.cat([rows[:, :t], torch.full((3, LENGTH - t), EMPTY)], dim=1)
        assert torch.allclose(features[:, t], discriminator.highway_features(prefix))
    discriminator.eval()
    assert torch.allclose(discriminator(rows), discriminator.output(discriminator.highway_features(rows)).squeeze(1))
    with torch.no_grad():
        discriminator.embedding.weight.add_(1.0)
    assert torch.equal(generator.prefix_features(rows), features)  # a copy: D's training reaches it only...
    generator.leak_from(discriminator)
    assert not torch.allclose(generator.prefix_features(rows), features)  # ...when copied in


@pytest.mark.parametrize("count", [0, 1, 4, 9])
def test_prefix_features_pooled_incrementally_are_ds_own_of_each_padded_prefix(count):
    torch.manual_seed(3)
    discriminator = Discriminator(VOCAB, 9, 6, (1, 2, 4, 9), (2, 3, 4, 2)).double().eval()
    tokens = torch.randint(VOCAB, (4, count))
    along, running = features_along(discriminator, tokens)
    prefix, stepped = padded_to(tokens[:, :0], 9), initial_running_max(discriminator, 4)
    for t in range(count + 1):
        expected = discriminator.highway_features(padded_to(tokens[:, :t], 9))
        assert torch.allclose(along[:, t], expected)
        if t:
            prefix[:, t - 1] = tokens[:, t - 1]
        step, stepped = features_step(discriminator, prefix, t, stepped)
        assert torch.allclose(step, expected)
    assert torch.allclose(running, stepped)  # the same windows, summed another way


def test_the_leaked_copy_is_saved_with_the_generator_and_is_none_of_its_parameters():
    generator, _ = model()
    assert not any(name.startswith("leak.") for name, _ in generator.named_parameters())
    assert any(key.startswith("leak.") for key in generator.state_dict())
    assert all(parameter.requires_grad for parameter in generator.parameters())


def test_transition_cosines_manager_loss_and_intrinsic_rewards_follow_the_paper():
    generator, _ = model(horizon=3)
    rows = sequences()
    passed = generator.teacher_forced(rows)
    features, goals = passed.features, passed.goals.detach()
    cosines = transition_cosines(features, goals, 3)
    for k, t in enumerate(range(0, LENGTH, 3)):
        expected = functional.cosine_similarity(features[:, min(t + 3, LENGTH)] - features[:, t], goals[:, t], dim=-1)
        assert torch.allclose(cosines[:, k], expected)
    mask = generator.token_mask(rows)
    weights = torch.rand(3, 4, dtype=torch.double)
    counted = mask[:, [0, 3, 6, 9]]  # row 1 ended at its 4th token: its later blocks are not its decisions
    assert torch.allclose(manager_loss(features, goals, mask, 3, weights), -(cosines * weights * counted).sum() / counted.sum())
    rewards = intrinsic_rewards(features, goals, 3)
    for t in range(LENGTH):
        terms = [functional.cosine_similarity(features[:, t + 1] - features[:, t + 1 - i], goals[:, t + 1 - i], dim=-1)
                 for i in range(1, 4) if t + 1 - i >= 0]
        assert torch.allclose(rewards[:, t], sum(terms) / len(terms))


def test_rewards_are_rescaled_by_their_rank_within_each_step():
    rewards = torch.tensor([[0.1, 0.3], [0.9, 0.3], [0.5, 0.2], [0.4, 0.8]])
    rescaled = rescaled_ranks(rewards, delta=16.0)
    ranks = torch.tensor([[4, 2], [1, 3], [2, 4], [3, 1]], dtype=torch.float)  # ties: the batch order
    assert torch.allclose(rescaled, torch.sigmoid(16.0 * (0.5 - ranks / 4)))
    assert torch.allclose(rescaled_ranks(rewards * 100 + 7, 16.0), rescaled)  # only the order counts


def test_block_rewards_roll_out_every_c_th_prefix_and_score_the_whole_sequence_last():
    generator, discriminator = model(horizon=5)
    rows = sequences()
    rewards = block_rewards(generator, discriminator, rows, 3, torch.Generator().manual_seed(2))
    assert rewards.shape == (3, 3)  # prefixes of 5 and 10 tokens rolled out, then the whole 12
    discriminator.eval()
    with torch.no_grad():
        whole = torch.sigmoid(discriminator(rows))
    assert torch.allclose(rewards[:, 2], whole.float())
    assert torch.allclose(rewards[1], whole[1].float().expand(3))  # row 1 ended before 5 tokens: all its Qs are D(x)
    assert not torch.allclose(rewards[0, :2], whole[0].float().expand(2))


def tiny(*extra: str):
    return apply_overrides(preset("quick"), [*TINY, "mle.epochs=1", "adversarial.rounds=2", "adversarial.d_steps=1",
                                             "run.threads=1", "run.method=leakgan", "leakgan.horizon=4",
                                             "leakgan.goal_size=4", "leakgan.manager_hidden=8",
                                             "leakgan.worker_hidden=8", *extra])


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("home")
    build_grammar_corpus("grammar", 15, count=200, seed=1).save(folder)
    return folder


def test_an_mle_epoch_interleaves_every_so_many_rounds_and_the_generator_reads_the_trained_d(home):
    trainer = start_run(home, "grammar", tiny("leakgan.interleave=2"), "interleaved")
    assert trainer.run() == "finished"
    adversarial = [record for record in read_metrics(trainer.folder) if record["phase"] == "adversarial"]
    assert ["mle_loss" in record for record in adversarial] == [False, True]
    assert all({"g_loss", "manager_loss", "mean_reward", "intrinsic_reward"} <= set(record) for record in adversarial)
    leaked = trainer.generator.leak.state_dict()
    assert all(torch.equal(leaked[key], value) for key, value in trainer.discriminator.state_dict().items())


def test_settings_leakgan_cannot_use_are_refused_in_one_line(home):
    for setting, message in (("generator.lookback=true", "set generator.lookback=false$"),
                             ("adversarial.variance_estimates=2", "set adversarial.variance_estimates=0")):
        with pytest.raises(SeqganError, match=message):
            start_run(home, "grammar", tiny(setting), f"refused-{setting.split('.')[0]}")
    with pytest.raises(SeqganError, match="set generator.lookback=false, generator.attention=false, "
                                          "generator.header_inputs=false$"):  # all at once: tunes-quick sets them
        start_run(home, "grammar", tiny("generator.lookback=true", "generator.attention=true",
                                        "generator.header_inputs=true", "data.unit=window"), "refused-all")
    with pytest.raises(SeqganError, match="leakgan.horizon must be"):
        tiny("leakgan.horizon=0")


def invoke(home: Path, *args: str):
    return runner.invoke(app, [*args, "--home", str(home)])


def test_train_generate_and_evaluate_a_leakgan_run_from_the_command_line(home):
    sets = [f"--set={setting}" for setting in (*TINY, "mle.epochs=1", "adversarial.rounds=1", "run.threads=1",
                                                "leakgan.goal_size=4", "leakgan.manager_hidden=8",
                                                "leakgan.worker_hidden=8")]
    result = invoke(home, "train", "grammar", "--method", "leakgan", "--preset", "quick", *sets, "--run", "cli")
    assert result.exit_code == 0, result.output
    assert json.loads((home / "checkpoints" / "cli" / "run.json").read_text())["method"] == "leakgan"
    outputs = []
    for out in ("a", "b"):
        generated = invoke(home, "generate", "cli", "--n", "4", "--seed", "3", "--out", str(home / out))
        assert generated.exit_code == 0, generated.output
        (listing,) = (home / out).glob("*.txt")
        outputs.append(listing.read_text())
    assert outputs[0] == outputs[1] and outputs[0].count("\n") == 4
    evaluated = invoke(home, "evaluate", "cli", "--samples", "20", "--metrics", "goodness,nll-test")
    assert evaluated.exit_code == 0, evaluated.output
    assert "NLL" in evaluated.output


def test_a_finished_run_loads_what_sampling_needs_from_its_checkpoint(home):
    trainer = start_run(home, "grammar", tiny(), "loaded")
    assert trainer.run() == "finished"
    loaded = load_trained_run(home, "loaded").generator
    assert isinstance(loaded, LeakGANGenerator)
    trainer.generator.eval()
    draw = [g.sample(6, trainer.length, generator=torch.Generator().manual_seed(5)) for g in (trainer.generator, loaded)]
    assert torch.equal(*draw)


def test_a_leakgan_run_on_whole_tunes_reads_features_of_whole_tune_prefixes(tmp_path):
    home = tune_home(tmp_path)
    settings = [*TINY, "mle.epochs=1", "mle.batch_size=4", "pretrain_d.negatives=8", "adversarial.rounds=1",
                "adversarial.negatives=8", "adversarial.batch_size=2", "adversarial.d_steps=1", "run.eval_samples=4",
                "run.samples=2", "run.threads=1", "data.unit=tune", "run.method=leakgan", "leakgan.goal_size=4",
                "leakgan.manager_hidden=8", "leakgan.worker_hidden=8", "leakgan.interleave=1",
                "leakgan.horizon=16"]  # a bar: 5 blocks of the longest tune, each rolled out
    trainer = start_run(home, "tunes", apply_overrides(preset("quick"), settings), "whole")
    assert trainer.run() == "finished"
    assert trainer.generator.length == trainer.length == trainer.discriminator.length > 16  # whole tunes, not windows
    assert "mle_loss" in read_metrics(trainer.folder)[-1]
    assert (trainer.folder / "samples" / "final.txt").read_text().count("\n") == 2


def test_compose_and_pack_refuse_a_leakgan_run_in_one_line(tmp_path):
    home = tune_home(tmp_path)
    settings = [*TINY, "mle.epochs=1", "mle.batch_size=4", "pretrain_d.negatives=8", "adversarial.rounds=0",
                "run.eval_samples=4", "run.samples=1", "run.threads=1", "run.method=leakgan", "leakgan.goal_size=4",
                "leakgan.manager_hidden=8", "leakgan.worker_hidden=8"]
    assert start_run(home, "tunes", apply_overrides(preset("quick"), settings), "leak").run() == "finished"
    for args in (["compose", "--run", "leak", "--n", "1", "--bars", "2", "--out", str(home / "composed")],
                 ["pack", "leak", "--out", str(home / "packed")]):
        result = invoke(home, *args)
        assert result.exit_code == 1 and "trained with leakgan" in result.output, result.output
        assert result.output.strip().count("\n") == 0 and "Traceback" not in result.output
    assert not (home / "packed").exists() and not (home / "composed").exists()
