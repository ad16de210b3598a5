"""TextGAN (Zhang et al., ICML 2017, "Adversarial feature matching for text generation"): the generator
does not play D's game; it matches the distribution of D's features of generated sequences to that of
real ones, by the kernel MMD between D's highway features (the vector D's output layer reads) of a
real and a generated batch (training/feature_matching.py). D trains by the standard GAN loss, and
both losses reach their player by back-propagation through TextGAN's soft-argmax.

What differs from the paper, and why:
- TextGAN's generator is deterministic given a latent code z (greedy decoding, fed its own
  soft-argmax). Ours has no latent code; its noise is the Gumbel noise of each drawn token: the
  token is argmax(log p + g), fed back as TextGAN feeds its argmax, and D reads the soft-argmax
  softmax(L * (log p + g)) (L: `textgan.scale`). Without the noise, softmax(L * log p) would be the
  greedy token after a sampled prefix: a sequence the generator never produces, whose features would
  differ from the data's even for a perfect generator (measured after MLE on the toy grammar, at
  L = 1000: an MMD of 2.3 against a real batch's features, where the drawn sequences' is 0.03).
- L is 10, not TextGAN's 1000 (`textgan.scale=1000` gives the paper's). At 1000 the soft-argmax is
  one-hot to float precision wherever the two largest perturbed log-probabilities differ by more
  than about 0.02: after MLE on the toy grammar 1% of positions pass any gradient (33% at L = 10).
  On the grammar preset with the generator's learning rate at 1e-3, 100 rounds took goodness from
  .29 to .32 and from .30 to .30 at L = 1000 (seeds 0 and 1), to .90 and .85 at L = 10 (NLL_test
  1.30 to 0.70 and 1.27 to 0.74); .45 at L = 100.
- TextGAN's D also reconstructs the latent code (its L_recon) and is trained to enlarge the MMD; with
  no latent code there is nothing to reconstruct, and D here keeps the standard loss alone.
- The Gaussian kernels' bandwidths are multiples of the median feature distance (feature_matching.py
  says why), not TextGAN's fixed ones.
- MLE pre-training first (TextGAN pre-trains its generator too), no D
  pre-training, Adam at the `relaxed_gan` learning rates, as every relaxed method here.
"""

from __future__ import annotations

import torch
from torch import Tensor

from seqgan_music.training.feature_matching import mmd_squared
from seqgan_music.training.methods.relaxed_gan import RelaxedGAN
from seqgan_music.training.relaxed_sequences import RelaxedSequences, relaxed_sequences


class TextGAN(RelaxedGAN):
    name = "textgan"
    label = "TextGAN"
    summary = "TextGAN: the generator matches D's features of real and soft-argmax sequences by a kernel MMD"
    sections = ("relaxed_gan", "textgan")
    loss = "standard"  # D's; the generator minimises the MMD instead

    def relaxed_batch(self, noise: torch.Generator) -> RelaxedSequences:
        trainer = self.trainer
        return relaxed_sequences(trainer.generator, self.config.adversarial.batch_size, trainer.length,
                                 self.config.textgan.scale, noise, gumbel=True)

    def generator_objective(self, real: Tensor, fake: Tensor) -> tuple[Tensor, dict]:
        """MMD^2 between D's highway features of the real ids (B, T) and of the relaxed batch (B, T, V)."""
        discriminator = self.trainer.discriminator
        with torch.no_grad():
            real_features = discriminator.highway_features(real)  # (B, F)
        mmd = mmd_squared(discriminator.highway_features(fake), real_features, self.config.textgan.bandwidths)
        return mmd, {"g_loss": float(mmd.detach())}
