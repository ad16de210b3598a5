"""The SeqGAN paper's baselines: scheduled sampling (`ss`) and PG-BLEU (`pg-bleu`)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from seqgan_music.config import apply_overrides, preset
from seqgan_music.corpora.grammar import build_grammar_corpus
from seqgan_music.models.generator import Generator
from seqgan_music.training.launch import start_run
from seqgan_music.training.mle import mle_epoch
from seqgan_music.training.methods.pg_bleu import BleuScorer
from seqgan_music.training.rollout import RolloutPolicy, rollout_rewards
from seqgan_music.training.methods.scheduled_sampling import scheduled_omega, scheduled_sampling_loss
from training_helpers import TINY


def test_omega_falls_from_one_by_the_decay():
    assert [scheduled_omega(k, 0.002) for k in (1, 50)] == pytest.approx([0.998, 0.9])
    assert scheduled_omega(10, 0.5) == 0.0


def test_omega_one_is_plain_teacher_forcing():
    torch.manual_seed(0)
    generator = Generator(7, 8, 16)
    batch = torch.randint(0, 7, (16, 9))
    loss, sampled = scheduled_sampling_loss(generator, batch, 1.0, torch.Generator().manual_seed(0))
    assert not sampled.any() and float(loss.detach()) == pytest.approx(float(generator.mle_loss(batch).detach()), abs=1e-5)


def test_inputs_are_the_models_own_samples_at_the_scheduled_rate():
    torch.manual_seed(0)
    generator = Generator(7, 8, 16)
    batch = torch.randint(0, 7, (2000, 10))
    _, sampled = scheduled_sampling_loss(generator, batch, 0.7, torch.Generator().manual_seed(1))
    share = float(sampled[:, 1:].float().mean())  # position 0 is the start token
    assert share == pytest.approx(0.3, abs=0.01)  # 18,000 coins: the standard error is 0.0034
    assert not sampled[:, 0].any()
    # a generator that always predicts token 3: with omega 0 every input after the start is a 3
    with torch.no_grad():
        generator.output.bias.fill_(-50.0)
        generator.output.bias[3] = 50.0
    batch = torch.randint(0, 7, (4, 6))
    loss, sampled = scheduled_sampling_loss(generator, batch, 0.0, torch.Generator().manual_seed(2))
    inputs = torch.cat([torch.full((4, 1), generator.start_token), torch.full((4, 5), 3)], dim=1)
    logits, _ = generator(inputs)
    expected = torch.nn.functional.cross_entropy(logits.flatten(0, 1), batch.flatten())
    assert sampled[:, 1:].all() and float(loss.detach()) == pytest.approx(float(expected.detach()), rel=1e-5)


@pytest.fixture(scope="module")
def grammar():
    return build_grammar_corpus("grammar", 15, count=400, seed=1)


def test_bleu_rewards_grow_as_the_generator_moves_towards_the_references(grammar):
    torch.manual_seed(0)
    scorer = BleuScorer(grammar.splits["train"], grammar.vocabulary, order=3, share=0.4, seed=0)
    assert len(scorer.references.max_counts) == 3
    generator = Generator(len(grammar.vocabulary), 16, 32)
    train = torch.as_tensor(grammar.splits["train"], dtype=torch.long)
    noise = torch.Generator().manual_seed(5)

    def mean_reward() -> float:
        samples = generator.sample(64, grammar.length, generator=noise)
        return float(rollout_rewards(generator, scorer, samples, rollouts=4, generator=noise).mean())

    before = mean_reward()
    optimizer = torch.optim.Adam(generator.parameters(), lr=0.01)
    for _ in range(5):
        mle_epoch(generator, optimizer, train, 64, 5.0, torch.Generator().manual_seed(0))
    after = mean_reward()
    assert after > before + 0.1, (before, after)
    real = float(scorer(torch.as_tensor(grammar.splits["valid"][:64], dtype=torch.long)).mean())
    assert real > after - 0.05  # real windows score at least as well


def _run(home: Path, corpus, method: str, extra: list[str]) -> list[dict]:
    corpus.save(home)
    config = apply_overrides(preset("quick"), [*TINY, "mle.epochs=2", f"run.method={method}", *extra])
    assert start_run(home, corpus.name, config, method).run() == "finished"
    lines = (home / "checkpoints" / method / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_ss_run_logs_its_schedule(grammar, tmp_path):
    records = _run(tmp_path, grammar, "ss", ["scheduled_sampling.epochs=3", "scheduled_sampling.decay=0.2"])
    ss = [r for r in records if r["phase"] == "ss"]
    assert [r["omega"] for r in ss] == pytest.approx([0.8, 0.6, 0.4])
    assert all(abs(r["sampled_share"] - (1 - r["omega"])) < 0.05 for r in ss)
    assert "nll_test" in ss[-1]


def test_pg_bleu_run_has_no_discriminator_phase(grammar, tmp_path):
    records = _run(tmp_path, grammar, "pg-bleu", ["adversarial.rounds=2"])
    assert [r["phase"] for r in records] == ["mle", "mle", "adversarial", "adversarial"]
    adversarial = [r for r in records if r["phase"] == "adversarial"]
    assert all("d_loss" not in r and 0 < r["mean_reward"] <= 1 for r in adversarial)
    info = json.loads((tmp_path / "checkpoints" / "pg-bleu" / "run.json").read_text())
    assert info["progress"]["phases"] == ["mle", "adversarial"] and info["status"] == "finished"


def test_policy_steps_with_any_scorer_update_the_rollout_policy(grammar):
    """The rollout policy still lags the generator when the scorer is BLEU (policy.update runs)."""
    from seqgan_music.config import AdversarialConfig
    from seqgan_music.training.methods.seqgan import policy_gradient_step

    torch.manual_seed(0)
    generator = Generator(len(grammar.vocabulary), 8, 16)
    policy = RolloutPolicy(generator, 0.8)
    scorer = BleuScorer(grammar.splits["train"], grammar.vocabulary, 3, 0.4, 0)
    before = [p.detach().clone() for p in policy.network.parameters()]
    settings = AdversarialConfig(batch_size=8, rollouts=2, learning_rate=0.05)
    metrics = policy_gradient_step(generator, torch.optim.Adam(generator.parameters(), lr=0.05), policy, scorer,
                                   grammar.length, settings, 64, "float32", torch.Generator().manual_seed(0))
    assert 0 < metrics["mean_reward"] <= 1
    assert any(not torch.equal(a, b) for a, b in zip(before, policy.network.parameters()))
    assert np.isfinite(metrics["g_loss"])


def test_reinforce_credits_whole_sequences_and_resumes_exactly(grammar, tmp_path):
    """REINFORCE: no rollout, a moving baseline from earlier batches only, checkpointed for resume
    (stopped after the first round and resumed, a run logs the same numbers)."""
    records = _run(tmp_path / "a", grammar, "reinforce", ["adversarial.rounds=3", "adversarial.baseline=true"])
    adversarial = [r for r in records if r["phase"] == "adversarial"]
    assert [r["phase"] for r in records[:3]] == ["mle", "mle", "pretrain_d"] and len(adversarial) == 3
    assert adversarial[0]["baseline"] == 0.0  # the first batch has no earlier batches
    assert 0 < adversarial[1]["baseline"] < 1 and "d_loss" in adversarial[0]
    assert _without_times(_interrupted_and_resumed(tmp_path / "b", grammar, "reinforce", [
        "adversarial.rounds=3", "adversarial.baseline=true"])) == _without_times(records)


def _interrupted_and_resumed(home: Path, corpus, method: str, extra: list[str]) -> list[dict]:
    """The metrics of a run stopped after its first adversarial round and resumed to the end."""
    from seqgan_music.training.launch import resume_run

    corpus.save(home)
    config = apply_overrides(preset("quick"), [*TINY, "mle.epochs=2", f"run.method={method}", *extra,
                                               "run.checkpoint_every=1"])
    trainer = start_run(home, corpus.name, config, method)
    trainer.observer = _StopAfterFirstRound(trainer)
    assert trainer.run() == "interrupted"
    assert resume_run(home, method, None).run() == "finished"
    return [json.loads(line) for line in (home / "checkpoints" / method / "metrics.jsonl").read_text().splitlines()]


def _without_times(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "elapsed"} for r in records]


class _StopAfterFirstRound:
    def __init__(self, trainer) -> None:
        self.trainer = trainer

    def on_event(self, event) -> None:
        if event.kind == "unit" and event.phase == "adversarial" and event.unit == 1:
            self.trainer.request_stop()


@pytest.mark.parametrize("method", ["rebar", "relax"])
def test_rebar_and_relax_train_their_control_and_resume_exactly(grammar, tmp_path, method):
    records = _run(tmp_path / "a", grammar, method, ["adversarial.rounds=3", "relaxation.learning_rate=0.01"])
    adversarial = [r for r in records if r["phase"] == "adversarial"]
    assert len(adversarial) == 3 and all(np.isfinite(r["log_gradient_square"]) for r in adversarial)
    assert adversarial[-1]["temperature"] != 0.5 and adversarial[-1]["scale"] != 1.0  # the control learns
    resumed = _interrupted_and_resumed(tmp_path / "b", grammar, method, ["adversarial.rounds=3",
                                                                         "relaxation.learning_rate=0.01"])
    assert _without_times(resumed) == _without_times(records)


@pytest.mark.parametrize("method", ["seqgan", "pg-bleu", "reinforce", "rebar", "relax"])
def test_gradient_variance_is_logged_without_changing_the_training(grammar, tmp_path, method):
    extra = ["adversarial.rounds=2", "adversarial.eval_every=1", "adversarial.rollouts=2"]
    plain = _run(tmp_path / "plain", grammar, method, extra)
    logged = _run(tmp_path / "logged", grammar, method, [*extra, "adversarial.variance_estimates=3"])
    adversarial = [r for r in logged if r["phase"] == "adversarial"]
    assert all(np.isfinite(r["log_variance_output"]) and np.isfinite(r["log_variance_weight"]) for r in adversarial)
    variance_keys = {"log_variance_output", "log_variance_weight"}
    assert _without_times(plain) == [{k: v for k, v in r.items() if k not in variance_keys}
                                     for r in _without_times(logged)]


def test_grammar_runs_log_their_goodness_at_every_evaluation(grammar, tmp_path):
    records = _run(tmp_path, grammar, "reinforce", ["adversarial.rounds=2", "adversarial.eval_every=1"])
    evaluated = [r for r in records if "nll_test" in r]
    assert evaluated and all(0 <= r["goodness"] <= 1 for r in evaluated)
