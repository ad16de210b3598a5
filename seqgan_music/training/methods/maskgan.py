"""MaskGAN (Fedus, Goodfellow and Dai, ICLR 2018, "MaskGAN: Better text generation via filling in
the ______"; models/maskgan.py): an in-filling generator trained by maximum likelihood, then by an
actor-critic against a discriminator of each filled token.

Every batch is masked afresh (`maskgan.mask`, `maskgan.mask_rate`; `maskgan.full_mask_share` of the
sequences whole, so free generation, which is in-filling from nothing kept, is trained too).
- MLE phase (the MLE settings): cross-entropy of the masked tokens given the masked input and the
  tokens before them. A run with adversarial.rounds=0 is MLE in-filling, MaskGAN's baseline (its D
  pre-training is skipped then: nothing would use D).
- D pre-training rounds and each adversarial round's `d_steps` refreshes: D learns, at the masked
  positions, real tokens (label 1) against the generator's fills of the same masks (label 0), given
  the masked context; `negatives` sequences, `epochs` passes in batches (D's own Adam at
  `maskgan.discriminator_learning_rate`).
  A pre-training round then fits the critic to the returns of the same fills, so the baseline is
  ready when the actor starts (an untrained critic's 0 makes every advantage negative).
- Adversarial generator steps (`g_steps` a round): a batch of `adversarial.batch_size` training
  sequences is masked and filled; each filled token's reward is log D(x_t), the return its rewards
  from t on discounted by `maskgan.gamma`, the advantage the return less the critic's value of the
  state the token was chosen from; REINFORCE with that advantage moves the generator (the
  adversarial optimizer), and the critic regresses the returns (squared error, its own Adam); its
  values are about a running mean of the returns, which grow as D grows sure of the fills.
Kept positions earn no reward and are never trained on; padding after a sequence's end neither.

Not the authors': the decoder also reads the encoder's state at its own position (beside attending
over all of them), the critic is a head on the decoder's attended output instead of a network sharing
D's encoder, a share of the sequences is masked whole, and no variational dropout. Evaluation adds NLL_infill: the NLL per masked token of the test data under
masks drawn from a fixed seed, so in-filling itself is measured beside free generation's NLL_test.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn
from torch.nn import functional

from seqgan_music.config import Config
from seqgan_music.corpora.corpus import Corpus
from seqgan_music.models.maskgan import MaskGANDiscriminator, MaskGANGenerator, draw_keep
from seqgan_music.phases import ADVERSARIAL, MLE, PRETRAIN_D
from seqgan_music.training.build import ban_for_unit, sequence_tokens
from seqgan_music.training.methods.base import AdversarialMethod, UnitRunner
from seqgan_music.training.methods.vae import loss_epoch, plain_lstm_shape
from seqgan_music.training.model_sizes import (
    ModelSizes,
    maskgan_discriminator_parameters,
    maskgan_generator_parameters,
)
from seqgan_music.training.optimization import descend

if TYPE_CHECKING:
    from seqgan_music.training.trainer import Trainer

_INFILL_SEED_OFFSET = 3_000_017  # the evaluation masks' seed, after run.seed
_EVALUATION_BATCH = 1024  # test rows scored at once (as training/mle.py's sequence_nlls)
_RETURN_DECAY = 0.9  # of the running mean return that the critic's values are offset by


def infill_loss(generator: MaskGANGenerator, tokens: Tensor, keep: Tensor) -> Tensor:
    """Cross-entropy per masked counted token of the batch (nats)."""
    weight = masked_positions(generator, tokens, keep)
    return -(generator.infill_log_probs(tokens, keep) * weight).sum() / weight.sum().clamp(min=1)


def masked_positions(generator: MaskGANGenerator, tokens: Tensor, keep: Tensor) -> Tensor:
    """(B, T) in the generator's dtype: 1 where a token was masked and counts (up to its end token)."""
    return generator.token_mask(tokens) * (~keep)


def discounted_returns(rewards: Tensor, gamma: float) -> Tensor:
    """R_t = r_t + gamma R_{t+1} along each row of `rewards` (B, T)."""
    returns = torch.zeros_like(rewards)
    later = torch.zeros_like(rewards[:, 0])
    for t in range(rewards.shape[1] - 1, -1, -1):
        later = rewards[:, t] + gamma * later
        returns[:, t] = later
    return returns


class MaskGAN(AdversarialMethod):
    """In-filling MLE epochs, D pre-training, then actor-critic rounds against a per-token D."""

    name = "maskgan"
    label = "MaskGAN"
    summary = ("MaskGAN (Fedus et al. 2018): an in-filling seq2seq generator, actor-critic on log D of each "
               "filled token; adversarial.rounds=0 is MLE in-filling")
    phases = (MLE, PRETRAIN_D, ADVERSARIAL)
    sections = ("maskgan",)
    size_settings = ("maskgan.critic_hidden",)

    @classmethod
    def distributed_refusal(cls, config: Config) -> str:
        return "the running mean return its critic is offset by would be folded from each process's own returns"

    @classmethod
    def build_generator(cls, corpus: Corpus, config: Config) -> MaskGANGenerator:
        plain_lstm_shape(config, cls.name)
        shape, settings, vocabulary = config.generator, config.maskgan, corpus.vocabulary
        generator = MaskGANGenerator(len(vocabulary), shape.embedding, shape.hidden, shape.layers,
                                     settings.bidirectional, settings.critic_hidden, **sequence_tokens(corpus))
        return ban_for_unit(generator, config, corpus)

    @classmethod
    def build_discriminator(cls, corpus: Corpus, config: Config, length: int) -> nn.Module:
        shape = config.generator
        return MaskGANDiscriminator(len(corpus.vocabulary), shape.embedding, shape.hidden, shape.layers,
                                    config.maskgan.bidirectional)

    @classmethod
    def model_sizes(cls, config: Config, vocab_size: int, length: int) -> ModelSizes:
        return ModelSizes(maskgan_generator_parameters(config, vocab_size),
                          maskgan_discriminator_parameters(config, vocab_size))

    def __init__(self, trainer: Trainer) -> None:
        super().__init__(trainer)
        generator: MaskGANGenerator = trainer.generator
        settings = self.config.maskgan
        self.critic_optimizer = torch.optim.Adam(generator.critic.parameters(), lr=settings.critic_learning_rate)
        self.discriminator_optimizer = torch.optim.Adam(trainer.discriminator.parameters(),
                                                        lr=settings.discriminator_learning_rate)
        # The running mean return (bias-corrected: total / weight): the critic learns each state's
        # value about it, so its Adam steps need not carry it to returns that grow as D grows sure.
        self.return_total, self.return_weight = 0.0, 0.0

    def unit_runners(self) -> dict[str, UnitRunner]:
        return {**super().unit_runners(), MLE.name: self.infill_epoch}

    def actor_parameters(self) -> list[nn.Parameter]:
        return [p for name, p in self.trainer.generator.named_parameters() if not name.startswith("critic.")]

    def keep_mask(self, tokens: Tensor, noise: torch.Generator) -> Tensor:
        """A fresh training mask of `tokens` (B, T) by the run's settings, drawn with `noise`."""
        settings = self.config.maskgan
        return draw_keep(tokens, self.trainer.generator.token_mask(tokens), settings.mask, settings.mask_rate,
                         settings.full_mask_share, noise)

    # ------------------------------------------------------------------ the MLE phase
    def infill_epoch(self, unit: int) -> dict:
        trainer = self.trainer
        generator: MaskGANGenerator = trainer.generator
        generator.train()
        loss = loss_epoch(trainer, self.actor_parameters(),
                          lambda batch: infill_loss(generator, batch, self.keep_mask(batch, trainer.sampling)))
        return self.finish_mle_epoch(unit, {"g_loss": loss}, self.infill_nll)

    def infill_nll(self) -> dict:
        """NLL_infill: the NLL per masked token of the test data under masks of a fixed seed (none
        without test data)."""
        test = self.trainer.test_data
        if not len(test):
            return {}
        generator: MaskGANGenerator = self.trainer.generator
        noise = torch.Generator(device=self.trainer.device).manual_seed(self.config.run.seed + _INFILL_SEED_OFFSET)
        keep = self.keep_mask(test, noise)
        total, counted = 0.0, 0.0
        with torch.no_grad():
            for rows in torch.arange(len(test), device=test.device).split(_EVALUATION_BATCH):
                weight = masked_positions(generator, test[rows], keep[rows])
                total -= float((generator.infill_log_probs(test[rows], keep[rows]) * weight).sum())
                counted += float(weight.sum())
        return {"nll_infill": total / max(counted, 1.0)}

    # ------------------------------------------------------------------ D
    def pretrain_d_round(self, unit: int) -> dict:
        """D, then the critic on the same fills (so the first adversarial round's baseline is already
        near the returns, not 0 against returns of -5 or less), `epochs` passes each over `negatives`
        masked and filled training sequences; none when no adversarial round follows (MLE in-filling)."""
        if self.config.adversarial.rounds == 0:
            return {}
        settings = self.config.pretrain_d
        real, keep, filled = self.filled_batch(settings.negatives, self.trainer.sampling)
        metrics = self.fit_discriminator(real, keep, filled, settings.epochs, settings.batch_size)
        metrics.update(self.fit_critic(keep, filled, settings.epochs, settings.batch_size))
        return metrics

    def filled_batch(self, rows: int, noise: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
        """`rows` training sequences drawn with `noise`, their masks and the generator's fills (B, T) each."""
        trainer = self.trainer
        data = trainer.train_data
        index = torch.randint(len(data), (rows,), generator=noise, device=noise.device)
        real = data[index.to(data.device)]
        keep = self.keep_mask(real, noise)
        trainer.generator.eval()
        filled = trainer.generator.infill(real, keep, generator=noise)
        trainer.generator.train()
        return real, keep, filled

    def train_discriminator(self, negatives: int, epochs: int, batch_size: int) -> dict:
        """D on `negatives` masked training sequences and the generator's fills of them."""
        real, keep, filled = self.filled_batch(negatives, self.trainer.sampling)
        return self.fit_discriminator(real, keep, filled, epochs, batch_size)

    def fit_discriminator(self, real: Tensor, keep: Tensor, filled: Tensor, epochs: int, batch_size: int) -> dict:
        """D learns the real tokens against the fills at the masked positions, `epochs` passes in shuffled batches."""
        trainer = self.trainer
        parameters = list(trainer.discriminator.parameters())
        losses = []
        for index in self.batches(len(real), epochs, batch_size, real.device):
            loss = self.discriminator_loss(trainer.generator, real[index], filled[index], keep[index])
            descend(loss, parameters, self.discriminator_optimizer, self.config.adversarial.grad_clip)
            losses.append(float(loss.detach()))
        return {"d_loss": sum(losses) / max(len(losses), 1)}

    def fit_critic(self, keep: Tensor, filled: Tensor, epochs: int, batch_size: int) -> dict:
        """The critic regresses the returns of the fills under the current D, `epochs` passes in shuffled batches."""
        generator: MaskGANGenerator = self.trainer.generator
        parameters = list(generator.critic.parameters())
        losses = []
        for index in self.batches(len(filled), epochs, batch_size, filled.device):
            with torch.no_grad():
                weight = masked_positions(generator, filled[index], keep[index])
                _, out = generator(filled[index], keep[index])
                returns = self.returns(filled[index], keep[index], weight)
            loss = self.critic_loss(self.values(out), returns, weight)
            descend(loss, parameters, self.critic_optimizer, self.config.adversarial.grad_clip)
            self.track_return(float((returns * weight).sum() / weight.sum().clamp(min=1)))
            losses.append(float(loss.detach()))
        return {"critic_loss": sum(losses) / max(len(losses), 1)}

    def batches(self, rows: int, epochs: int, batch_size: int, device: torch.device) -> list[Tensor]:
        """Row indices for `epochs` shuffled passes over `rows` rows (the run's shuffle stream)."""
        return [index.to(device) for _ in range(epochs)
                for index in torch.randperm(rows, generator=self.trainer.shuffle).split(batch_size)]

    def discriminator_loss(self, generator: MaskGANGenerator, real: Tensor, filled: Tensor, keep: Tensor) -> Tensor:
        """Binary cross-entropy of D at the masked counted positions: real tokens 1, filled ones 0."""
        discriminator = self.trainer.discriminator
        real_weight, fake_weight = masked_positions(generator, real, keep), masked_positions(generator, filled, keep)
        real_loss = functional.binary_cross_entropy_with_logits(discriminator(real, keep), torch.ones_like(real_weight),
                                                                weight=real_weight, reduction="sum")
        fake_loss = functional.binary_cross_entropy_with_logits(discriminator(filled, keep), torch.zeros_like(fake_weight),
                                                                weight=fake_weight, reduction="sum")
        return (real_loss + fake_loss) / (real_weight.sum() + fake_weight.sum()).clamp(min=1)

    # ------------------------------------------------------------------ the actor-critic
    def actor_critic(self, noise: torch.Generator) -> tuple[Tensor, Tensor, dict]:
        """The actor's REINFORCE loss with the critic's baseline and the critic's squared error, on a
        fresh batch masked, filled and scored with `noise`, and what to log."""
        generator: MaskGANGenerator = self.trainer.generator
        _, keep, filled = self.filled_batch(self.config.adversarial.batch_size, noise)
        weight = masked_positions(generator, filled, keep)
        logits, out = generator(filled, keep)
        log_probs = -functional.cross_entropy(logits.flatten(0, 1), filled.flatten(), reduction="none").view(filled.shape)
        with torch.no_grad():
            rewards = self.rewards(filled, keep, weight)
            returns = discounted_returns(rewards, self.config.maskgan.gamma)
        values = self.values(out)
        advantages = (returns - values).detach()
        scored = weight.sum().clamp(min=1)
        actor = -(advantages * log_probs * weight).sum() / scored
        critic = self.critic_loss(values, returns, weight)
        metrics = {"g_loss": float(actor.detach()), "critic_loss": float(critic.detach()),
                   "reward": float(rewards.sum() / scored), "return": float((returns * weight).sum() / scored),
                   "advantage": float((advantages * weight).sum() / scored)}
        return actor, critic, metrics

    def values(self, decoder_out: Tensor) -> Tensor:
        """The baseline of each state (B, T): the critic's value about the running mean return."""
        mean = self.return_total / self.return_weight if self.return_weight else 0.0
        return self.trainer.generator.values(decoder_out) + mean

    def track_return(self, mean_return: float) -> None:
        """Take a batch's mean return into the running mean."""
        self.return_total = _RETURN_DECAY * self.return_total + mean_return
        self.return_weight = _RETURN_DECAY * self.return_weight + 1.0

    def rewards(self, filled: Tensor, keep: Tensor, weight: Tensor) -> Tensor:
        """log D(x_t) at the masked counted positions (`weight`), 0 elsewhere (B, T)."""
        return functional.logsigmoid(self.trainer.discriminator(filled, keep)) * weight

    def returns(self, filled: Tensor, keep: Tensor, weight: Tensor) -> Tensor:
        return discounted_returns(self.rewards(filled, keep, weight), self.config.maskgan.gamma)

    @staticmethod
    def critic_loss(values: Tensor, returns: Tensor, weight: Tensor) -> Tensor:
        """The critic's squared error per masked counted token."""
        return ((values - returns).square() * weight).sum() / weight.sum().clamp(min=1)

    def surrogate(self, noise: torch.Generator, training: bool) -> tuple[Tensor, dict]:
        actor, _, metrics = self.actor_critic(noise)
        return actor, metrics

    def generator_step(self) -> dict:
        """One actor step (the adversarial optimizer) and one critic step on the same batch."""
        actor, critic, metrics = self.actor_critic(self.trainer.sampling)
        grad_clip = self.config.adversarial.grad_clip
        descend(actor, self.actor_parameters(), self.trainer.optimizers["adversarial"], grad_clip)
        descend(critic, list(self.trainer.generator.critic.parameters()), self.critic_optimizer, grad_clip)
        self.track_return(metrics["return"])
        return metrics

    def adversarial_round(self, unit: int) -> dict:
        """AdversarialMethod's round, NLL_infill beside its evaluation."""
        metrics = super().adversarial_round(unit)
        settings = self.config.adversarial
        if unit % settings.eval_every == 0 or unit == settings.rounds:
            metrics.update(self.infill_nll())
        return metrics

    def state_dict(self) -> dict:
        return {"maskgan": {"critic_optimizer": self.critic_optimizer.state_dict(),
                            "discriminator_optimizer": self.discriminator_optimizer.state_dict(),
                            "return_total": self.return_total, "return_weight": self.return_weight}}

    def load_state_dict(self, state: dict) -> None:
        """A checkpoint saved before D had an optimizer of its own and the critic a running mean (maskgan
        as first committed) resumes with the trainer's D optimizer, which D stepped then, and no mean yet."""
        own = state["maskgan"]
        self.critic_optimizer.load_state_dict(own["critic_optimizer"])
        self.discriminator_optimizer.load_state_dict(own.get("discriminator_optimizer",
                                                             state["optimizers"]["discriminator"]))
        self.return_total, self.return_weight = float(own.get("return_total", 0.0)), float(own.get("return_weight", 0.0))
