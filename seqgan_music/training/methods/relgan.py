"""RelGAN (Nie et al., ICLR 2019): a relational-memory generator trained through the Gumbel-softmax
against a multi-representation discriminator, by the relativistic standard GAN loss.

Its three parts, each reachable by a setting: the generator is always the relational memory
(models/relational_memory.py, sized by generator.memory_slots, memory_heads and memory_head_size;
RelGAN is defined by it, so generator.core is not read); D is the multi-representation CNN
(models/multi_representation.py: `relgan.representations` embeddings of `relgan.representation_size`
each, the filter bank, scale and dropout of the `discriminator` section); the loss is
`relgan.loss` (relativistic, RelGAN's; standard, hinge, or wasserstein with WGAN-GP's penalty).
The Gumbel-softmax's beta rises to `gumbel.beta_max` (RelGAN's 1, 100 or 1000) as in gsgan.

As in the authors' code, MLE pre-training is followed directly by adversarial steps (no D
pre-training), each one generator step and `adversarial.d_steps` (their 5) discriminator steps.
A generator that collapses onto a few sequences (what beta_max 1 is reported to do) shows in the
share of distinct sequences in each generated batch, logged as `distinct`, next to NLL_test.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from seqgan_music.config import Config
from seqgan_music.corpora.corpus import Corpus
from seqgan_music.models.generator import Generator
from seqgan_music.models.multi_representation import MultiRepresentationDiscriminator
from seqgan_music.training.build import build_generator
from seqgan_music.training.methods.gsgan import GumbelRelaxedGAN
from seqgan_music.training.model_sizes import ModelSizes, generator_parameters, multi_representation_parameters


class RelGAN(GumbelRelaxedGAN):
    name = "relgan"
    label = "RelGAN"
    summary = "RelGAN: relational-memory generator, Gumbel-softmax, multi-representation D, relativistic loss"
    sections = ("relaxed_gan", "gumbel", "relgan")
    size_settings = ("relgan.representations", "relgan.representation_size")

    @property
    def loss(self) -> str:
        return self.config.relgan.loss

    @classmethod
    def build_generator(cls, corpus: Corpus, config: Config) -> Generator:
        """The relational-memory generator, whatever generator.core says."""
        return build_generator(corpus, _relational(config))

    @classmethod
    def model_sizes(cls, config: Config, vocab_size: int, length: int) -> ModelSizes:
        return ModelSizes(generator_parameters(_relational(config), vocab_size),
                          multi_representation_parameters(config, vocab_size, length))

    @classmethod
    def build_discriminator(cls, corpus: Corpus, config: Config, length: int) -> MultiRepresentationDiscriminator:
        """The multi-representation D with the configured filter bank: widths that fit `length`, counts scaled."""
        settings, own = config.discriminator, config.relgan
        kept = [(w, max(1, round(c * settings.filter_scale)))
                for w, c in zip(settings.filter_widths, settings.filter_counts) if w <= length]
        return MultiRepresentationDiscriminator(len(corpus.vocabulary), length, own.representations,
                                                own.representation_size, [w for w, _ in kept], [c for _, c in kept],
                                                settings.dropout_keep)

    def generator_objective(self, real: Tensor, fake: Tensor) -> tuple[Tensor, dict]:
        loss, metrics = super().generator_objective(real, fake)
        return loss, {**metrics, "distinct": distinct_share(fake.argmax(-1))}


def distinct_share(tokens: Tensor) -> float:
    """The share of distinct rows among sequences (B, T): 1 when all differ, 1/B when all are one."""
    return len(torch.unique(tokens, dim=0)) / max(len(tokens), 1)


def _relational(config: Config) -> Config:
    """`config` with the relational-memory core, which RelGAN's generator always has."""
    return dataclasses.replace(config, generator=dataclasses.replace(config.generator, core="relational"))
