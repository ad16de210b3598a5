"""RankGAN: the ranker's softmax over a comparison set, its temperature, its training by ranking, the
rollout rewards it gives, its settings, and a run through the command line."""

import json
from pathlib import Path

import pytest
import torch

from seqgan_music.config import apply_overrides, config_from_dict, config_to_dict, preset
from seqgan_music.corpora.grammar import build_grammar_corpus
from seqgan_music.errors import SeqganError
from seqgan_music.models.discriminator import Discriminator
from seqgan_music.models.ranker import Ranker, set_probabilities
from seqgan_music.training.launch import start_run
from seqgan_music.training.methods.rankgan import RankScorer, draw_rows, train_ranker
from seqgan_music.training.rollout import rollout_completions, rollout_noise, rollout_rewards, score_completions
from training_helpers import TINY, train_generate_evaluate

VOCAB, LENGTH = 12, 10


def make_ranker(gamma: float = 1.0, seed: int = 0) -> Ranker:
    torch.manual_seed(seed)
    encoder = Discriminator(VOCAB, LENGTH, embedding_dim=8, filter_widths=(1, 2, 3), filter_counts=(8, 8, 8))
    return Ranker(encoder, gamma).eval()


def random_rows(count: int, seed: int, low: int = 0, high: int = VOCAB) -> torch.Tensor:
    return torch.randint(low, high, (count, LENGTH), generator=torch.Generator().manual_seed(seed))


def test_the_scores_over_a_comparison_set_form_a_softmax_for_every_reference():
    ranker = make_ranker(gamma=2.0)
    candidate, comparison, references = random_rows(1, 1), random_rows(7, 2), random_rows(5, 3)
    with torch.no_grad():
        whole_set = torch.cat([candidate, comparison])
        probabilities = set_probabilities(ranker(whole_set), ranker(references), ranker.gamma)  # (8, 5)
        against_comparison = torch.sigmoid(ranker.rank_logits(candidate, references, comparison))  # (1, 5)
        score = ranker.rank_scores(candidate, references, comparison)
    assert probabilities.shape == (8, 5) and bool((probabilities > 0).all())
    assert torch.allclose(probabilities.sum(dim=0), torch.ones(5))
    # P(s | u, C) is s's entry of the softmax over C and s itself, and R its mean over the references.
    assert torch.allclose(against_comparison[0], probabilities[0], atol=1e-6)
    assert torch.allclose(score, probabilities[0].mean(), atol=1e-6)
    assert not torch.allclose(probabilities[0], probabilities[1])  # the relevance tells the sequences apart


def test_gamma_sharpens_the_scores():
    ranker = make_ranker()
    with torch.no_grad():
        features, references = ranker(random_rows(8, 4)), ranker(random_rows(3, 5))
    entropies, tops = [], []
    for gamma in (0.0, 1.0, 16.0, 256.0):
        probabilities = set_probabilities(features, references, gamma)
        entropies.append(float(-(probabilities * probabilities.log()).sum(dim=0).mean()))
        tops.append(float(probabilities.max(dim=0).values.mean()))
    assert entropies[0] == pytest.approx(torch.log(torch.tensor(8.0)).item())  # gamma 0: uniform over the set
    assert entropies == sorted(entropies, reverse=True) and len(set(entropies)) == 4
    assert tops == sorted(tops) and tops[-1] > 0.9  # the most relevant sequence takes nearly all


def test_a_sequence_identical_to_the_references_ranks_highest():
    ranker = make_ranker(gamma=4.0)
    comparison = random_rows(16, 6)
    for seed in range(5):
        candidates = random_rows(12, 10 + seed)
        chosen = seed + 3
        references = candidates[chosen].repeat(3, 1)
        with torch.no_grad():
            scores = ranker.rank_scores(candidates, references, comparison)
        assert int(scores.argmax()) == chosen
        assert float(scores[chosen]) > float(scores.topk(2).values[1])  # strictly above the next


def test_the_rankers_loss_falls_when_real_and_generated_sequences_differ():
    ranker = make_ranker(gamma=16.0, seed=1)
    reals, fakes = random_rows(64, 20, 0, VOCAB // 2), random_rows(64, 21, VOCAB // 2, VOCAB)
    settings = preset("quick").rankgan
    settings.reference_size, settings.comparison_size = 8, 16
    optimizer = torch.optim.Adam(ranker.parameters(), lr=0.01)
    shuffle = torch.Generator().manual_seed(0)
    first = train_ranker(ranker, optimizer, reals, fakes, reals, settings, 1, 16, shuffle)
    last = train_ranker(ranker, optimizer, reals, fakes, reals, settings, 15, 16, shuffle)
    assert last["d_loss"] < 0.1 * first["d_loss"]
    assert last["d_acc_real"] == 1.0 and last["d_acc_fake"] == 1.0
    ranker.eval()
    with torch.no_grad():
        references = reals[:8]
        real_score = ranker.rank_scores(reals[8:24], references, fakes[:16])  # a real among generated ones
        fake_score = ranker.rank_scores(fakes[16:32], references, reals[24:40])  # a generated one among real ones
    assert float(real_score.min()) > 1 / 17 > float(fake_score.max())
    assert not ranker.encoder.output.weight.requires_grad  # the classifier's output layer is never read


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("home")
    build_grammar_corpus("grammar", 15, count=200, seed=1).save(folder)
    return folder


@pytest.fixture(scope="module")
def trainer(home):
    config = apply_overrides(preset("quick"), [*TINY, "mle.epochs=1", "run.threads=1", "run.method=rankgan",
                                               "rankgan.reference_size=4", "rankgan.comparison_size=8"])
    return start_run(home, "grammar", config, "rankgan-parts")


def test_the_ranker_sits_in_the_discriminators_place(trainer):
    assert isinstance(trainer.discriminator, Ranker) and trainer.discriminator.gamma == 16.0
    assert {id(p) for group in trainer.optimizers["discriminator"].param_groups for p in group["params"]} == \
        {id(p) for p in trainer.discriminator.parameters()}
    metrics = trainer.method.pretrain_d_round(1)
    assert set(metrics) == {"d_loss", "d_acc_real", "d_acc_fake"} and metrics["d_loss"] > 0


def test_rewards_are_rollouts_scored_by_the_rank_score(trainer):
    method = trainer.method
    scorer = method.scorer(torch.Generator().manual_seed(3))
    draws = torch.Generator().manual_seed(3)
    references, comparison = draw_rows(trainer.train_data, 4, draws), draw_rows(trainer.train_data, 8, draws)
    policy = method.policy.network
    sequences = trainer.generator.sample(4, trainer.length, generator=torch.Generator().manual_seed(5))
    noise = rollout_noise(4, trainer.length, 3, torch.Generator().manual_seed(6), "cpu")
    rewards = rollout_rewards(policy, scorer, sequences, 3, noise=noise)
    completions = rollout_completions(policy, sequences, 3, noise=noise)  # (N, T-1, B, T)
    assert rewards.shape == (4, trainer.length)
    assert torch.allclose(rewards, score_completions(scorer, policy, sequences, completions))
    ranker = trainer.discriminator
    with torch.no_grad():
        direct = ranker.eval().rank_scores(completions[:, 0].reshape(-1, trainer.length), references, comparison)
    assert torch.allclose(rewards[:, 0], direct.view(3, 4).mean(dim=0), atol=1e-6)  # Q(1): the mean over rollouts
    mask = policy.token_mask(sequences).bool()
    assert bool((rewards[mask] > 0).all() and (rewards[mask] < 1).all()) and bool((rewards[~mask] == 0).all())
    assert RankScorer(ranker, references, comparison, chunk_size=3)(sequences).shape == (4,)  # chunks join up


def test_measuring_the_gradient_variance_leaves_the_training_streams_alone(trainer):
    sampling, shuffle = trainer.sampling.get_state(), trainer.shuffle.get_state()
    loss, metrics = trainer.method.surrogate(torch.Generator().manual_seed(9), training=False)
    assert loss.requires_grad and 0 < metrics["mean_reward"] < 1
    assert torch.equal(trainer.sampling.get_state(), sampling) and torch.equal(trainer.shuffle.get_state(), shuffle)


def test_rankgan_settings_are_checked_and_older_configs_load_without_them():
    base = preset("quick")
    assert (base.rankgan.gamma, base.rankgan.reference_size, base.rankgan.comparison_size) == (16.0, 16, 64)
    for bad in ("rankgan.gamma=0", "rankgan.gamma=1e9", "rankgan.gamma=nan", "rankgan.reference_size=0",
                "rankgan.comparison_size=0", "rankgan.comparison_size=100000000"):
        with pytest.raises(SeqganError, match=bad.split("=")[0]):
            apply_overrides(base, [bad])
    older = config_to_dict(base)
    del older["rankgan"]
    assert config_from_dict(older).rankgan == base.rankgan


TINY_SETTINGS = [*TINY, "mle.epochs=2", "adversarial.rounds=2", "adversarial.eval_every=1", "run.samples=3",
                 "rankgan.reference_size=4", "rankgan.comparison_size=8"]


def test_train_generate_and_evaluate_a_rankgan_run_from_the_command_line(tmp_path):
    build_grammar_corpus("grammar", 15, count=200, seed=1).save(tmp_path)
    records, evaluation = train_generate_evaluate(tmp_path, "rankgan", "ranked", TINY_SETTINGS, tmp_path / "out",
                                                  samples=30)
    assert [r["phase"] for r in records] == ["mle", "mle", "pretrain_d", "adversarial", "adversarial"]
    assert all(0 < r["mean_reward"] < 1 and "goodness" in r for r in records if r["phase"] == "adversarial")
    assert json.loads((tmp_path / "checkpoints" / "ranked" / "run.json").read_text())["method"] == "rankgan"
    assert "ranked" in evaluation
