"""relgan: the multi-representation discriminator (a logit per representation, ids and one-hot
alike), D's loss reaching every parameter of the relational-memory generator, a step of each
selectable loss, the beta maxima, the collapse signal, and a run from the command line."""

import math
from pathlib import Path

import pytest
import torch

from seqgan_music.config import GAN_LOSSES, apply_overrides, preset
from seqgan_music.corpora.corpus import load_corpus
from seqgan_music.corpora.grammar import build_grammar_corpus
from seqgan_music.errors import SeqganError
from seqgan_music.experiments.definitions import oracle_experiment
from seqgan_music.models.generator import Generator
from seqgan_music.models.multi_representation import MultiRepresentationDiscriminator
from seqgan_music.training.adversarial_losses import LOSSES, discriminator_loss, generator_loss
from seqgan_music.training.launch import start_run
from seqgan_music.training.methods.relgan import RelGAN, distinct_share
from seqgan_music.training.relaxed_sequences import one_hot, relaxed_sequences
from training_helpers import TINY, train_generate_evaluate

VOCAB, LENGTH, END, PAD = 6, 5, 4, 5
SMALL = [*TINY, "generator.memory_heads=2", "generator.memory_head_size=4", "relgan.representations=4",
         "relgan.representation_size=2", "run.threads=1", "run.method=relgan"]


def tiny_discriminator(seed: int = 0, representations: int = 3) -> MultiRepresentationDiscriminator:
    torch.manual_seed(seed)
    return MultiRepresentationDiscriminator(VOCAB, LENGTH, representations, 2, (1, 2), (3, 4)).eval()


def test_d_gives_one_logit_per_representation_and_the_same_for_ids_and_their_one_hot():
    discriminator = tiny_discriminator()
    ids = torch.randint(VOCAB, (7, LENGTH), generator=torch.Generator().manual_seed(1))
    from_ids = discriminator(ids)
    assert from_ids.shape == (7, 3)
    assert torch.allclose(discriminator(one_hot(ids, VOCAB)), from_ids, atol=1e-6, rtol=0)
    assert not torch.allclose(from_ids[:, 0], from_ids[:, 1])  # three embeddings: three views, not one copied


def test_each_logit_reads_its_own_representation_only():
    """Changing representation 1's embedding moves the logits of representation 1 and no other: the
    (V, S * d) matrix is cut into S representations of d, not mixed across them."""
    discriminator = tiny_discriminator()
    ids = torch.randint(VOCAB, (7, LENGTH), generator=torch.Generator().manual_seed(2))
    before = discriminator(ids).detach()
    with torch.no_grad():
        discriminator.embedding.weight[:, 2:4] += 0.5  # representation 1 of width 2
    after = discriminator(ids).detach()
    moved = (after - before).abs().amax(dim=0)  # (S,)
    assert moved[1] > 1e-3 and moved[0] == 0 and moved[2] == 0, moved


def test_relgans_generator_is_the_relational_memory_whatever_generator_core_says(tmp_path: Path):
    build_grammar_corpus("grammar", 15, count=50, seed=1).save(tmp_path)
    corpus = load_corpus(tmp_path, "grammar")
    config = apply_overrides(preset("quick"), [*SMALL, "generator.core=lstm"])
    generator = RelGAN.build_generator(corpus, config)
    assert generator.core_kind == "relational" and generator.core.slot_size == 8
    discriminator = RelGAN.build_discriminator(corpus, config, 15)
    assert isinstance(discriminator, MultiRepresentationDiscriminator) and discriminator.representations == 4


def test_ds_loss_reaches_every_generator_parameter_memory_core_included():
    torch.manual_seed(0)
    generator = Generator(VOCAB, 4, 8, end_token=END, pad_token=PAD, core="relational", memory_slots=2,
                          memory_heads=2, memory_head_size=4)
    discriminator = tiny_discriminator()
    relaxed = relaxed_sequences(generator, 32, LENGTH, 2.0, torch.Generator().manual_seed(4))
    real = torch.randint(4, (32, LENGTH), generator=torch.Generator().manual_seed(5))
    loss = generator_loss("relativistic", discriminator(real), discriminator(relaxed.weights))
    names = [name for name, _ in generator.named_parameters()]
    assert any(name.startswith("relational_memory.") for name in names)
    gradients = torch.autograd.grad(loss, list(generator.parameters()), allow_unused=True)
    reached = {name: g is not None and float(g.abs().sum()) > 0 for name, g in zip(names, gradients)}
    assert all(reached.values()), [name for name, ok in reached.items() if not ok]


def test_the_losses_relgan_offers_are_the_ones_the_losses_module_computes():
    assert set(GAN_LOSSES) == set(LOSSES) and GAN_LOSSES[0] == "relativistic"  # RelGAN's is the default
    assert preset("quick").relgan.loss == "relativistic"
    with pytest.raises(SeqganError, match="relgan.loss must be one of"):
        apply_overrides(preset("quick"), ["relgan.loss=least-squares"])
    with pytest.raises(SeqganError, match="relgan.representations"):
        apply_overrides(preset("quick"), ["relgan.representations=0"])


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("home")
    build_grammar_corpus("grammar", 15, count=200, seed=1).save(folder)
    return folder


@pytest.mark.parametrize("loss", GAN_LOSSES)
def test_each_loss_trains_d_and_the_generator_a_step(home: Path, loss: str):
    """Under each loss, D's steps lower D's loss on a held batch, and the generator's steps lower the
    generator's loss against that D held fixed (no dropout, so both are measured on the same D)."""
    config = apply_overrides(preset("quick"), [*SMALL, "mle.epochs=1", f"relgan.loss={loss}",
                                               "relaxed_gan.generator_learning_rate=0.003",
                                               "relaxed_gan.discriminator_learning_rate=0.003",
                                               "gumbel.schedule=constant", "gumbel.beta_max=2"])
    trainer = start_run(home, "grammar", config, f"step-{loss}")
    method, discriminator = trainer.method, trainer.discriminator
    assert method.loss == loss
    real = method.real_batch(torch.Generator().manual_seed(3))
    with torch.no_grad():
        fake = method.relaxed_batch(torch.Generator().manual_seed(4)).weights

    def d_loss() -> float:
        with torch.no_grad():
            return float(discriminator_loss(loss, discriminator(real), discriminator(fake)))

    discriminator.eval()
    before = d_loss()
    for _ in range(5):
        metrics = method.discriminator_step()
    assert math.isfinite(metrics["d_loss"]) and ("gradient_penalty" in metrics) == (loss == "wasserstein")
    assert d_loss() < before

    def g_loss() -> float:
        return float(method.surrogate(torch.Generator().manual_seed(11), training=False)[0].detach())

    g_before = g_loss()
    for _ in range(5):
        metrics = method.generator_step()
    assert g_loss() < g_before and 0 < metrics["distinct"] <= 1


def test_distinct_share_shows_a_collapsed_batch():
    assert distinct_share(torch.arange(12).view(4, 3)) == 1.0
    assert distinct_share(torch.zeros(8, 3, dtype=torch.long)) == 1 / 8  # one sentence repeated
    assert distinct_share(torch.tensor([[1, 2], [1, 2], [2, 1], [1, 2]])) == 0.5


@pytest.mark.parametrize("beta_max", [1.0, 100.0, 1000.0])
def test_relgans_beta_maxima_are_reached_at_the_last_step(home: Path, beta_max: float):
    config = apply_overrides(preset("quick"), [*SMALL, "mle.epochs=0", "adversarial.rounds=4",
                                               f"gumbel.beta_max={beta_max}"])
    method = start_run(home, "grammar", config, f"beta-{beta_max:g}").method
    method.generator_steps = method.total_generator_steps()
    assert method.beta() == pytest.approx(beta_max)


def test_train_generate_and_evaluate_relgan_from_the_command_line(home: Path, tmp_path: Path):
    settings = [*SMALL, "mle.epochs=2", "adversarial.rounds=3", "adversarial.eval_every=1", "adversarial.d_steps=2",
                "gumbel.beta_max=1000"]
    records, _ = train_generate_evaluate(home, "relgan", "rel", settings, tmp_path / "out",
                                         metrics="goodness,nll-test,self-bleu")
    adversarial = [r for r in records if r["phase"] == "adversarial"]
    assert [r["phase"] for r in records if r["phase"] != "mle"] == ["adversarial"] * 3  # no D pre-training
    assert [r["beta"] for r in adversarial] == pytest.approx([1.0, 10.0, 100.0])  # 1000 ** (step / 3)
    assert all(0 < r["distinct"] <= 1 and math.isfinite(r["d_loss"]) for r in adversarial)


def test_the_oracle_experiment_sets_relgan_against_its_published_nll_oracle():
    experiment = oracle_experiment(methods=("mle", "relgan"))
    assert experiment.paper["RelGAN"] == {"nll_oracle": 6.680}  # Nie et al. 2019, Table 1, beta_max 100
