"""The method table: one interface for every method, phases defined once, a trainer that names no
method, and checkpoints that keep the keys runs saved before methods became objects."""

import ast
from pathlib import Path

import pytest
import torch

import seqgan_music.training.trainer as trainer_module
from seqgan_music.config import METHODS, apply_overrides, preset
from seqgan_music.corpora.grammar import build_grammar_corpus
from seqgan_music.phases import PHASES, Phase, phase_label
from seqgan_music.training.checkpoint import load_checkpoint
from seqgan_music.training.launch import resume_run, start_run
from seqgan_music.training.methods import METHOD_CLASSES, Method, method_phases, settings_read
from seqgan_music.training.runs import STATE_FILE, read_metrics
from training_helpers import TINY

# Checkpoints saved before methods became objects held all of these keys whatever the method (the
# rollout, the moving baseline and the relaxation's state among them): a method may read back only
# these, or runs saved by that version would no longer resume.
SHARED_KEYS = {"format", "generator", "discriminator", "optimizers", "rng", "position", "best_mle", "metrics_lines",
               "elapsed", "corpus_hash", "config"}
METHOD_KEYS = {"seqgan": {"rollout"}, "pg-bleu": {"rollout"}, "reinforce": {"moving_baseline"},
               "rebar": {"relaxation"}, "relax": {"relaxation"}, "mle": set(), "ss": set(), "rankgan": {"rollout"},
               "maligan": set(), "leakgan": set(), "gsgan": {"relaxed_gan"},
               "relgan": {"relaxed_gan"}, "wgan": {"relaxed_gan"},
               "textgan": {"relaxed_gan"}, "vae": {"vae"}, "arae": {"arae"},
               "maskgan": {"maskgan"}}


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("home")
    build_grammar_corpus("grammar", 15, count=64, seed=1).save(folder)
    return folder


def tiny(method: str, *extra: str):
    return apply_overrides(preset("quick"), [*TINY, "mle.epochs=2", "adversarial.rounds=2", "scheduled_sampling.epochs=2",
                                             "run.threads=1", f"run.method={method}", *extra])


def test_the_method_table_and_config_name_the_same_methods_in_the_same_order():
    assert tuple(METHOD_CLASSES) == METHODS
    assert all(cls.name == name for name, cls in METHOD_CLASSES.items())


@pytest.mark.parametrize("name", METHODS)
def test_every_method_declares_its_phases_labels_and_sections(name):
    method = METHOD_CLASSES[name]
    assert issubclass(method, Method) and method.label and method.summary
    assert method.phases and all(isinstance(p, Phase) and PHASES[p.name] is p for p in method.phases)
    assert method.phases[0].name == "mle"  # every method starts from maximum likelihood
    config = preset("quick")
    assert all(hasattr(config, section) for section in method.sections)


def test_a_phase_is_defined_once_and_read_for_labels_units_and_counts():
    config = apply_overrides(preset("quick"), ["mle.epochs=7", "adversarial.rounds=1"])
    assert PHASES["mle"].units(config) == 7 and PHASES["adversarial"].units(config) == 1
    assert PHASES["mle"].count(7) == "7 epochs" and PHASES["adversarial"].count(1) == "1 round"
    assert phase_label("pretrain_d") == "D pre-train" and phase_label("pretrain_d", short=True) == "D pre"
    assert phase_label("not-a-phase") == "not-a-phase"  # a damaged log shows what it holds
    assert method_phases("no-such-method") == ()


def test_the_trainer_names_no_method():
    source = Path(trainer_module.__file__).read_text(encoding="utf-8")
    literals = {node.value for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Constant)}
    assert not literals & (set(METHODS) - {"mle"})  # "mle" is also the MLE optimizer's name
    assert source.count("run.method") == 1  # only where the method's class is looked up


def test_settings_read_leave_out_only_the_sections_of_other_methods():
    base = preset("quick")
    relax = apply_overrides(base, ["run.method=relax"])
    assert "relaxation" in settings_read(relax) and "scheduled_sampling" not in settings_read(relax)
    assert settings_read(apply_overrides(base, ["relaxation.scale=1"])) == settings_read(base)  # seqgan ignores it
    assert settings_read(apply_overrides(relax, ["relaxation.scale=1"])) != settings_read(relax)
    assert settings_read(apply_overrides(base, ["adversarial.rounds=3"])) != settings_read(base)


@pytest.mark.parametrize("name", METHODS)
def test_every_method_resumes_exactly_and_keeps_the_checkpoint_keys_of_older_runs(home, name):
    extra = ["adversarial.baseline=true"] if name == "reinforce" else []
    whole = assert_resumes_exactly(home, name, name, *extra)
    assert set(load_checkpoint(whole.folder / STATE_FILE)) == SHARED_KEYS | METHOD_KEYS[name]


def assert_resumes_exactly(home: Path, method: str, run: str, *extra: str):
    """Train `method` (with the `extra` settings) whole, and again stopped after the first unit of its
    last phase and resumed: the generators end bit-identical, the logs equal. Returns the whole run's trainer."""
    whole = start_run(home, "grammar", tiny(method, *extra), f"{run}-whole")
    assert whole.run() == "finished"

    class StopAfterFirstUnitOfLastPhase:
        trainer = None

        def on_event(self, event) -> None:
            if event.kind == "unit" and event.phase == whole.phases[-1].name:
                self.trainer.request_stop()

    stopper = StopAfterFirstUnitOfLastPhase()
    stopper.trainer = start_run(home, "grammar", tiny(method, *extra), f"{run}-stopped", stopper)
    assert stopper.trainer.run() == "interrupted"
    resumed = resume_run(home, f"{run}-stopped")
    assert resumed.run() == "finished"
    for key, tensor in whole.generator.state_dict().items():
        assert torch.equal(tensor, resumed.generator.state_dict()[key]), key
    drop = {"elapsed"}
    assert [{k: v for k, v in r.items() if k not in drop} for r in read_metrics(resumed.folder)] == \
        [{k: v for k, v in r.items() if k not in drop} for r in read_metrics(whole.folder)]
    return whole



def test_seqgan_rolls_out_the_pretrained_generator_in_its_first_round(home, monkeypatch):
    """The rollout copy is taken when adversarial training starts, not when the method is built
    (before MLE): the first round's rollouts use the generator MLE left."""
    import seqgan_music.training.methods.seqgan as seqgan_module

    pairs = []
    real = seqgan_module.rollout_rewards

    def watching(network, *args, **kwargs):
        pairs.append(({k: v.clone() for k, v in network.state_dict().items()},
                      {k: v.clone() for k, v in trainer.generator.state_dict().items()}))
        return real(network, *args, **kwargs)

    monkeypatch.setattr(seqgan_module, "rollout_rewards", watching)
    config = tiny("seqgan", "adversarial.rounds=1", "adversarial.g_steps=1", "adversarial.variance_estimates=0")
    trainer = start_run(home, "grammar", config, "rollout-sync")
    assert trainer.run() == "finished"
    rollout, generator = pairs[0]  # the first round's first step, before the generator's update
    assert set(rollout) == set(generator)
    for name, value in generator.items():
        torch.testing.assert_close(rollout[name], value, rtol=0, atol=0)
