"""Partial-sequence rewards (adversarial.reward=partial, Li et al. 2017): D trained on prefixes, the
reward of token t is D of the padded prefix x_1..t, no rollout at all; methods without D on prefixes
refuse the setting; runs with it resume exactly and train from the command line."""

import copy

import pytest
import torch
from typer.testing import CliRunner

import seqgan_music.training.methods.seqgan as seqgan_module
import seqgan_music.training.trainer as trainer_module
from seqgan_music.cli import app
from seqgan_music.config import METHODS, apply_overrides, config_from_dict, config_to_dict, preset
from seqgan_music.corpora.grammar import build_grammar_corpus
from seqgan_music.errors import SeqganError
from seqgan_music.models.discriminator import EMPTY, Discriminator
from seqgan_music.models.generator import Generator
from seqgan_music.training.budget import estimate_memory
from seqgan_music.training.checkpoint import load_checkpoint
from seqgan_music.training.launch import start_run
from seqgan_music.training.methods import METHOD_CLASSES
from seqgan_music.training.partial_rewards import partial_rewards
from seqgan_music.training.runs import STATE_FILE
from test_methods import SHARED_KEYS, assert_resumes_exactly, tiny
from training_helpers import TINY

PARTIAL = "adversarial.reward=partial"
LENGTH = 15  # the grammar corpus's


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    folder = tmp_path_factory.mktemp("home")
    build_grammar_corpus("grammar", LENGTH, count=200, seed=1).save(folder)
    return folder


def prefix_scores_one_by_one(discriminator: Discriminator, sequences: torch.Tensor) -> torch.Tensor:
    """(B, T): D's P(real) of sequences[:, :t] with the positions after t empty, one prefix length at a time."""
    discriminator.eval()
    columns = []
    with torch.no_grad():
        for t in range(1, sequences.shape[1] + 1):
            prefix = sequences.clone()
            prefix[:, t:] = EMPTY
            columns.append(discriminator.probability_real(prefix))
    return torch.stack(columns, dim=1)


def test_an_empty_position_embeds_as_nothing_and_other_ids_as_before():
    torch.manual_seed(0)
    model = Discriminator(6, 8, embedding_dim=4, filter_widths=(1, 3), filter_counts=(2, 2))
    ids = torch.tensor([[1, 2, 3, EMPTY, EMPTY, EMPTY, EMPTY, EMPTY]])
    embedded = model.embed(ids)  # (1, E, T)
    assert torch.equal(embedded[0, :, 3:], torch.zeros(4, 5))
    assert torch.equal(embedded[0, :, :3], model.embedding.weight[ids[0, :3]].t())
    assert not torch.equal(model(ids), model(ids.clamp(min=0)))  # empty is not token 0


def test_partial_rewards_are_d_on_each_padded_prefix_and_zero_after_the_end():
    torch.manual_seed(1)
    discriminator = Discriminator(7, 9, embedding_dim=4, filter_widths=(1, 2, 4), filter_counts=(3, 3, 3))
    generator = Generator(7, 4, 8, end_token=1, pad_token=0, start_token=6)
    sequences = torch.randint(2, 6, (5, 9))
    sequences[0, 3:] = torch.tensor([1, 0, 0, 0, 0, 0])  # ends at t = 4
    sequences[2, 8] = 1  # ends at its last token
    mask = generator.token_mask(sequences)
    discriminator.train()  # rewards are scored without dropout, and D's mode is restored
    rewards = partial_rewards(discriminator, sequences, mask, chunk_size=4)
    assert discriminator.training
    expected = prefix_scores_one_by_one(discriminator, sequences) * mask
    torch.testing.assert_close(rewards, expected, rtol=0, atol=1e-6)
    assert torch.all(rewards[0, 4:] == 0) and torch.all(rewards[0, :4] > 0)


def test_partial_rewards_need_no_rollout_and_equal_d_on_each_prefix(home, monkeypatch):
    def no_rollout(*args, **kwargs):
        raise AssertionError("partial rewards rolled out")

    monkeypatch.setattr(seqgan_module, "rollout_rewards", no_rollout)
    seen = []

    def recording(discriminator, sequences, *args):
        rewards = partial_rewards(discriminator, sequences, *args)
        seen.append((sequences.clone(), rewards))
        return rewards

    monkeypatch.setattr(seqgan_module, "partial_rewards", recording)
    trainer = start_run(home, "grammar", tiny("seqgan", PARTIAL, "adversarial.rounds=1"), "partial-step")
    assert trainer.method.policy is None  # no rollout network to keep either
    before = copy.deepcopy(trainer.generator.state_dict())
    discriminator = copy.deepcopy(trainer.discriminator)
    metrics = trainer.method.generator_step()
    (samples, rewards), = seen
    assert samples.shape == (16, LENGTH)
    torch.testing.assert_close(rewards, prefix_scores_one_by_one(discriminator, samples), rtol=0, atol=1e-6)
    assert metrics["mean_reward"] == pytest.approx(float(rewards.mean()))
    assert any(not torch.equal(before[k], v) for k, v in trainer.generator.state_dict().items())  # a step was taken
    assert trainer.run() == "finished"  # whole run: D pre-training, rounds, evaluation, all without a rollout


def test_d_training_with_prefixes_feeds_d_prefixes_of_many_lengths(home, monkeypatch):
    calls = []
    real_training = trainer_module.train_discriminator

    def recording(discriminator, optimizer, positives, negatives, *args):
        calls.append((positives.clone(), negatives.clone()))
        return real_training(discriminator, optimizer, positives, negatives, *args)

    monkeypatch.setattr(trainer_module, "train_discriminator", recording)
    trainer = start_run(home, "grammar", tiny("seqgan", PARTIAL, "adversarial.d_steps=1"), "partial-d")
    trainer.method.pretrain_d_round(1)
    trainer.method.adversarial_round(1)  # its D refresh
    assert len(calls) == 2
    train_rows = {tuple(row) for row in trainer.train_data.tolist()}
    for positives, negatives in calls:
        for rows in (positives, negatives):
            present = rows != EMPTY
            lengths = present.sum(dim=1)
            assert torch.equal(present, torch.arange(LENGTH) < lengths.unsqueeze(1))  # a prefix, then empty
            assert len(set(lengths.tolist())) >= LENGTH - 2 and int(lengths.min()) >= 1
        for row, length in zip(positives.tolist(), (positives != EMPTY).sum(dim=1).tolist()):
            assert any(row[:length] == list(real[:length]) for real in train_rows)  # a real window's own prefix
    trainer.lock.release()

    calls.clear()
    whole = start_run(home, "grammar", tiny("seqgan"), "rollout-d")  # the default: whole sequences, as before
    whole.method.pretrain_d_round(1)
    (positives, negatives), = calls
    assert bool((positives != EMPTY).all()) and bool((negatives != EMPTY).all())
    whole.lock.release()


def test_seqgan_with_partial_rewards_resumes_exactly_and_saves_no_rollout_network(home):
    whole = assert_resumes_exactly(home, "seqgan", "seqgan-partial", PARTIAL)
    assert set(load_checkpoint(whole.folder / STATE_FILE)) == SHARED_KEYS


@pytest.mark.parametrize("name", [m for m in METHODS if not METHOD_CLASSES[m].partial_rewards])
def test_methods_without_d_on_prefixes_refuse_partial_rewards_at_start(home, name):
    with pytest.raises(SeqganError, match=f"method {name} cannot use adversarial.reward=partial"):
        start_run(home, "grammar", tiny(name, PARTIAL), f"{name}-partial")
    assert not (home / "checkpoints" / f"{name}-partial").exists()


def test_only_seqgan_rewards_prefixes():
    assert [m for m in METHODS if METHOD_CLASSES[m].partial_rewards] == ["seqgan"]


def test_configs_saved_before_the_setting_load_with_rollout_rewards_and_bad_values_are_refused():
    saved = config_to_dict(preset("quick"))
    del saved["adversarial"]["reward"]
    assert config_from_dict(saved).adversarial.reward == "rollout"
    with pytest.raises(SeqganError, match='adversarial.reward must be one of rollout, partial'):
        apply_overrides(preset("quick"), ["adversarial.reward=partly"])


def test_the_memory_estimate_counts_no_rollout_rows_with_partial_rewards():
    settings = ["adversarial.rollouts=64", "adversarial.batch_size=256"]
    rollout = estimate_memory(apply_overrides(preset("quick"), settings), 20, 200)
    partial = estimate_memory(apply_overrides(preset("quick"), [*settings, PARTIAL]), 20, 200)
    assert "the rollout's rows" in rollout.parts and "the rollout's rows" not in partial.parts
    assert sum(partial.parts.values()) < sum(rollout.parts.values())


def test_train_with_partial_rewards_from_the_command_line(home):
    runner = CliRunner()
    settings = [arg for setting in [*TINY, "mle.epochs=1", "adversarial.rounds=2", PARTIAL]
                for arg in ("--set", setting)]
    result = runner.invoke(app, ["train", "grammar", "--method", "seqgan", *settings, "--run", "cli-partial",
                                 "--home", str(home)])
    assert result.exit_code == 0, result.output
    assert "finished" in result.output
    generated = runner.invoke(app, ["generate", "cli-partial", "--n", "3", "--out", str(home / "out"),
                                    "--home", str(home)])
    assert generated.exit_code == 0, generated.output

    refused = runner.invoke(app, ["train", "grammar", "--method", "pg-bleu", *settings, "--run", "bleu-partial",
                                  "--home", str(home)])
    assert refused.exit_code == 1
    assert "cannot use adversarial.reward=partial" in refused.output and "Traceback" not in refused.output
    assert len(refused.output.strip().splitlines()) == 1
