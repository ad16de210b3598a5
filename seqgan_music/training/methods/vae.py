"""The VAE of Bowman et al. (2016), "Generating sentences from a continuous space" (models/vae.py):
trained by the evidence lower bound, reconstruction NLL plus the KL term of the posterior against
the prior N(0, I), in the MLE phase's epochs (its settings: epochs, batch size, learning rate,
clipping, evaluation, keep_best), so that a VAE stands where the other methods' MLE does.

Bowman et al.'s two remedies for posterior collapse (the decoder ignoring z, KL falling to 0):
- KL annealing: the KL term's weight rises from 0 to 1 over `vae.kl_anneal_steps` optimizer steps,
  by their logistic curve 1 / (1 + exp(-k (step - x0))) (x0 half-way, k so that the weight is 1/1000
  at the start and 999/1000 at the end of the span) or linearly;
- word dropout: each decoder input but the start token becomes a blank with probability
  `vae.token_dropout`, so the decoder must lean on z.
Every epoch logs the reconstruction NLL and the KL term per token, and the KL weight: a KL near 0
is the collapse showing. NLL_test is an importance-weighted bound with `vae.nll_samples` draws
(logged beside it as nll_samples), not the exact NLL.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from torch import Tensor, nn

from seqgan_music.config import Config
from seqgan_music.corpora.corpus import Corpus
from seqgan_music.errors import SeqganError
from seqgan_music.models.vae import SentenceVAE
from seqgan_music.phases import MLE
from seqgan_music.training.build import ban_for_unit, sequence_tokens
from seqgan_music.training.methods.base import Method, UnitRunner
from seqgan_music.training.mle import epoch_shares
from seqgan_music.training.model_sizes import ModelSizes, discriminator_parameters, vae_parameters
from seqgan_music.training.optimization import descend

if TYPE_CHECKING:
    from seqgan_music.training.trainer import Trainer

_LOGISTIC_EDGE = math.log(999.0)  # the logistic weight is 1/1000 and 999/1000 at the span's ends


def kl_weight(step: int, steps: int, schedule: str) -> float:
    """The KL term's weight at optimizer step `step` (0, 1, ...) of an annealing over `steps` steps
    (0: 1 throughout): logistic or linear from 0 to 1, then 1."""
    if steps <= 0 or step >= steps:
        return 1.0
    if schedule == "linear":
        return step / steps
    if schedule == "logistic":
        return 1.0 / (1.0 + math.exp(-2.0 * _LOGISTIC_EDGE / steps * (step - steps / 2)))
    raise ValueError(f"unknown KL schedule {schedule!r}")


def plain_lstm_shape(config: Config, name: str) -> None:
    """Refuse, in one line, generator options a latent-variable model's LSTM decoder does not have."""
    shape = config.generator
    inputs = [f"generator.{option}=false" for option in ("lookback", "attention", "header_inputs")
              if getattr(shape, option)]
    if inputs:
        raise SeqganError(f"{name}'s decoder reads tokens and its code only: set {', '.join(inputs)}")
    if shape.core != "lstm":
        raise SeqganError(f"{name}'s encoder and decoder are LSTMs: set generator.core=lstm")


def epoch_batches(trainer: Trainer, batch_size: int) -> Iterator[Tensor]:
    """The training sequences in shuffled batches (B, T), as an MLE epoch takes them: whole tunes in
    batches of similar length, each cut to its longest."""
    data, lengths = trainer.train_data, trainer.data.train_lengths
    for index in epoch_shares(len(data), batch_size, trainer.shuffle, lengths):  # several processes: this one's share
        batch = data[index.to(data.device)]
        yield batch if lengths is None else batch[:, :int(lengths[index.to(lengths.device)].max())]


def loss_epoch(trainer: Trainer, parameters: list[nn.Parameter], loss_of: Callable[[Tensor], Tensor]) -> float:
    """One pass of `epoch_batches` in the MLE phase, each batch's `loss_of(batch)` descended on
    `parameters` with the MLE optimizer; returns the mean batch loss."""
    settings, losses = trainer.config.mle, []
    for batch in epoch_batches(trainer, settings.batch_size):
        loss = loss_of(batch)
        descend(loss, parameters, trainer.optimizers["mle"], settings.grad_clip)
        losses.append(float(loss.detach()))
    return sum(losses) / max(len(losses), 1)


class VAE(Method):
    """Epochs of the annealed ELBO with token dropout, in the MLE phase."""

    name = "vae"
    label = "VAE"
    summary = ("VAE (Bowman et al. 2016): LSTM encoder and decoder, KL annealing and token dropout; samples "
               "from the prior; NLL_test is an importance-weighted bound")
    phases = (MLE,)
    sections = ("vae",)
    size_settings = ("vae.latent",)

    @classmethod
    def build_generator(cls, corpus: Corpus, config: Config) -> SentenceVAE:
        plain_lstm_shape(config, cls.name)
        shape, settings, vocabulary = config.generator, config.vae, corpus.vocabulary
        generator = SentenceVAE(len(vocabulary), shape.embedding, shape.hidden, shape.layers, settings.latent,
                                settings.token_dropout, settings.nll_samples, **sequence_tokens(corpus))
        return ban_for_unit(generator, config, corpus)

    @classmethod
    def model_sizes(cls, config: Config, vocab_size: int, length: int) -> ModelSizes:
        return ModelSizes(vae_parameters(config, vocab_size), discriminator_parameters(config, vocab_size, length))

    def __init__(self, trainer: Trainer) -> None:
        super().__init__(trainer)
        self.steps = 0  # optimizer steps taken: where the KL annealing stands

    def unit_runners(self) -> dict[str, UnitRunner]:
        return {MLE.name: self.elbo_epoch}

    def elbo_epoch(self, unit: int) -> dict:
        """One pass over the training data; logs per token the annealed loss, the reconstruction NLL and
        the (unweighted) KL term, and the KL weight of the epoch's last step."""
        trainer, settings, own = self.trainer, self.config.mle, self.config.vae
        generator: SentenceVAE = trainer.generator
        generator.train()
        parameters = list(generator.parameters())
        losses, reconstructions, kls, tokens, weight = [], 0.0, 0.0, 0.0, 0.0
        for batch in epoch_batches(trainer, settings.batch_size):
            weight = kl_weight(self.steps, own.kl_anneal_steps, own.kl_schedule)
            reconstruction, kl = generator.elbo_terms(batch, trainer.sampling)
            counted = generator.token_mask(batch).sum()
            loss = (reconstruction.sum() + weight * kl.sum()) / counted
            descend(loss, parameters, trainer.optimizers["mle"], settings.grad_clip)
            self.steps += 1
            losses.append(float(loss.detach()))
            reconstructions += float(reconstruction.detach().sum())
            kls += float(kl.detach().sum())
            tokens += float(counted)
        metrics: dict = {"g_loss": sum(losses) / max(len(losses), 1), "reconstruction_nll": reconstructions / max(tokens, 1),
                         "kl_per_token": kls / max(tokens, 1), "kl_weight": weight}
        return self.finish_mle_epoch(unit, metrics, lambda: {"nll_samples": own.nll_samples})

    def state_dict(self) -> dict:
        return {"vae": {"steps": self.steps}}

    def load_state_dict(self, state: dict) -> None:
        self.steps = int(state["vae"]["steps"])
