"""The memory estimate counts the models each method really builds: for every method in the registry,
on a corpus without and with bar lines, the estimate's parameter counts equal the numel of the
generator, the discriminator and the method's own models as training builds them; and a size of a
method's own section that cannot fit is refused in one line naming it (and what fits), never a
setting the method does not read."""

import dataclasses
from pathlib import Path

import pytest
import torch

from seqgan_music.config import apply_overrides, preset
from seqgan_music.corpora.corpus import Corpus, load_corpus
from seqgan_music.corpora.grammar import build_grammar_corpus
from seqgan_music.errors import SeqganError
from seqgan_music.training import budget
from seqgan_music.training.budget import check_budget, estimate_memory
from seqgan_music.training.estimators import ControlVariate
from seqgan_music.training.methods import METHOD_CLASSES, method_class
from seqgan_music.training.methods.relaxed import RelaxedEstimator
from seqgan_music.training.sequences import sample_length
from test_tune_training import tune_home

GENERATOR_PART = "the generator's weights, gradients and optimizer state"
DISCRIMINATOR_PART = "the discriminator's weights, gradients and optimizer state"
OWN_PART = "the method's own models' weights, gradients and optimizer state"

# Small, and every size different, so a formula that reads the wrong one is caught.
SMALL = ["generator.embedding=6", "generator.hidden=10", "discriminator.embedding=5", "discriminator.filter_scale=0.05",
         "vae.latent=7", "arae.code_size=9", "arae.noise_size=11", "arae.mlp_hidden=13", "leakgan.worker_hidden=12",
         "leakgan.manager_hidden=14", "leakgan.goal_size=3", "relgan.representations=4",
         "relgan.representation_size=2", "maskgan.critic_hidden=17", "relaxation.residual_hidden=5"]
RELATIONAL = ["generator.core=relational", "generator.memory_slots=2", "generator.memory_heads=3",
              "generator.memory_head_size=4"]
# What each corpus is built with; a variant a method refuses (leakgan's two layers) is left out for it.
GRAMMAR_VARIANTS = [[], ["generator.layers=2"], ["maskgan.bidirectional=false"], RELATIONAL]
TUNE_VARIANTS = [["data.unit=tune"], ["data.unit=tune", "generator.lookback=true"],
                 ["data.unit=tune", "generator.lookback=true", "generator.attention=true",
                  "generator.header_inputs=true", "generator.lookback_bars=[1, 2, 4]"],
                 ["data.unit=tune", "generator.lookback=true", "generator.attention=true", *RELATIONAL]]


@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> dict[str, Corpus]:
    """The grammar (5 tokens, no bar lines) and grid16 tunes (bar lines, whole tunes of different lengths)."""
    tunes = load_corpus(tune_home(tmp_path_factory.mktemp("tunes")), "tunes")
    return {"grammar": build_grammar_corpus("grammar", 15, count=40, seed=1), "tunes": tunes}


def numel(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def frozen_numel(module: torch.nn.Module) -> int:
    """Floats a model keeps as buffers (LeakGAN's copy of D; a generator's banned-token mask is bool)."""
    return sum(b.numel() for b in module.buffers() if b.is_floating_point())


def own_models(method: type, corpus: Corpus, config) -> torch.nn.Module | None:
    """What the method builds of its own beside the two models (REBAR's and RELAX's control)."""
    if not hasattr(method, "learned_residual"):
        return None
    return RelaxedEstimator(method.learned_residual, len(corpus.vocabulary), config.relaxation,
                            torch.device("cpu")).control


@pytest.mark.parametrize("name", list(METHOD_CLASSES))
def test_the_estimate_counts_the_models_each_method_builds(name: str, corpora: dict[str, Corpus]) -> None:
    method = method_class(name)
    built = 0
    for corpus_name, variants in (("grammar", GRAMMAR_VARIANTS), ("tunes", TUNE_VARIANTS)):
        corpus = corpora[corpus_name]
        vocab_size = len(corpus.vocabulary)
        for variant in variants:
            config = apply_overrides(preset("quick"), [*SMALL, *variant, f"run.method={name}"])
            length = sample_length(corpus, config.data.unit)
            try:
                generator = method.build_generator(corpus, config)
            except SeqganError:  # settings this method refuses (a relational core for an LSTM-only one)
                continue
            discriminator = method.build_discriminator(corpus, config, length)
            own = own_models(method, corpus, config)
            where = f"{name} on {corpus_name} with {variant}"
            estimate = estimate_memory(config, vocab_size, length)
            assert estimate.generator_weights == 4 * numel(generator), where
            assert estimate.parts[DISCRIMINATOR_PART] == 4 * 4 * numel(discriminator), where
            assert estimate.parts[GENERATOR_PART] == 4 * (8 * numel(generator) + 2 * frozen_numel(generator)), where
            sizes = method.model_sizes(config, vocab_size, length)
            assert sizes.generator == numel(generator), where
            assert sizes.discriminator == numel(discriminator), where
            assert sizes.frozen == frozen_numel(generator), where
            assert sizes.own == (numel(own) if own is not None else 0), where
            assert estimate.parts[OWN_PART] == 4 * 4 * sizes.own, where
            built += 1
    assert built >= 3, f"{name} built only {built} of the variants"


def test_rebar_and_relax_count_their_controls(corpora: dict[str, Corpus]) -> None:
    config = apply_overrides(preset("quick"), SMALL)
    rebar = method_class("rebar").model_sizes(config, 5, 15)
    relax = method_class("relax").model_sizes(config, 5, 15)
    assert rebar.own == numel(ControlVariate()) == 2  # its temperature and scale
    assert relax.own > rebar.own and relax.generator == rebar.generator


def test_an_oracle_corpus_is_counted_with_at_most_one_row_more(corpora: dict[str, Corpus]) -> None:
    """A corpus whose start token is a normal token (the oracle's 0) has no start row: the estimate,
    which cannot tell, is one embedding row above it."""
    grammar = corpora["grammar"]
    oracle = dataclasses.replace(grammar, manifest={**grammar.manifest,
                                                    "source": {**grammar.manifest["source"], "start_token": 0}})
    config = apply_overrides(preset("quick"), SMALL)
    generator = method_class("seqgan").build_generator(oracle, config)
    assert method_class("seqgan").model_sizes(config, 5, 15).generator == numel(generator) + 6


@pytest.mark.parametrize(("name", "setting", "others"), [
    ("maskgan", "maskgan.critic_hidden=1000000", []),
    ("vae", "vae.latent=1000000", []),
    ("arae", "arae.mlp_hidden=100000", []),
    ("leakgan", "leakgan.worker_hidden=100000", []),
    ("relgan", "relgan.representation_size=4096", ["relgan.representations=256"]),
    ("relax", "relaxation.residual_hidden=1000000", []),
])
def test_a_methods_own_size_that_cannot_fit_is_refused_naming_it(monkeypatch, name: str, setting: str,
                                                                  others: list[str]) -> None:
    monkeypatch.setattr(budget, "machine_memory", lambda: 10**9)
    config = apply_overrides(preset("quick"), [f"run.method={name}", setting, *others])
    with pytest.raises(SeqganError) as refused:
        check_budget(config, 80, 64)
    message = str(refused.value)
    assert "\n" not in message and message.startswith(f"{setting} ") and "1.0 GB of memory" in message, message
    option = setting.split("=")[0]
    fits = int(message.rsplit(f"use at most {option}=", 1)[1])
    assert estimate_memory(apply_overrides(config, [f"{option}={fits}"]), 80, 64).total <= 10**9
    assert estimate_memory(apply_overrides(config, [f"{option}={fits + 1}"]), 80, 64).total > 10**9


def test_a_refusal_never_names_a_setting_the_method_does_not_read(monkeypatch) -> None:
    """LeakGAN's Worker is sized by leakgan.worker_hidden, not generator.hidden: raising the one it
    does not read changes nothing it builds, so its goal size is named though less far above its default."""
    monkeypatch.setattr(budget, "machine_memory", lambda: 2 * 10**9)
    config = apply_overrides(preset("quick"), ["run.method=leakgan", "generator.hidden=2000", "leakgan.goal_size=500"])
    with pytest.raises(SeqganError) as refused:
        check_budget(config, 5000, 64)
    message = str(refused.value)
    assert message.startswith("leakgan.goal_size=500 makes the run need about ") and "generator.hidden" not in message
    fits = int(message.rsplit("use at most leakgan.goal_size=", 1)[1])
    assert estimate_memory(apply_overrides(config, [f"leakgan.goal_size={fits}"]), 5000, 64).total <= 2 * 10**9


def test_the_command_line_refuses_a_maskgan_too_large_for_the_machine(tmp_path: Path, monkeypatch) -> None:
    """From `train`: one red line naming maskgan's own setting, exit 1, and no run folder (no phase
    is asked for, so a run the check let through would end at once)."""
    from typer.testing import CliRunner

    from seqgan_music.cli import app

    build_grammar_corpus("grammar", 15, count=40, seed=1).save(tmp_path)
    monkeypatch.setattr(budget, "machine_memory", lambda: 10**9)
    result = CliRunner().invoke(app, ["train", "grammar", "--method", "maskgan", "--preset", "quick", "--run", "big",
                                      "--set=maskgan.critic_hidden=1000000", "--set=run.device=cpu",
                                      *(f"--set={phase}=0" for phase in ("mle.epochs", "pretrain_d.rounds",
                                                                         "adversarial.rounds")),
                                      "--home", str(tmp_path)])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "maskgan.critic_hidden=1000000" in lines[0], result.output
    assert not (tmp_path / "checkpoints" / "big").exists()
