"""ARAE (Zhao et al., ICML 2018, "Adversarially regularized autoencoders"): an autoencoder whose
codes lie on the unit sphere, a generator MLP from Gaussian noise to codes, and a WGAN critic that
tells the encoder's codes from the generator's. Samples are decoded from generated codes.

The autoencoder is models/vae.py's CodeConditionedGenerator (the code starts the decoder, as in
Bowman et al.; ARAE's own decoder also reads the code at every input). The generator's codes are
not normalised, as in the authors' code: the critic pulls them onto the sphere.

The model's likelihood p(x) = E_noise p(x | G(noise)) has no closed form: `log_probs` estimates it
by K generated codes (fixed noise), log (1/K sum_k p(x | G(n_k))), a lower bound on log p(x) in
expectation, so NLL_test reads an upper bound; with few codes it is a loose one.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.nn import functional

from seqgan_music.models.generator import INIT_STD
from seqgan_music.models.vae import CodeConditionedGenerator

CRITIC_SLOPE = 0.2  # the LeakyReLU of ARAE's critic


def _mlp(sizes: list[int], activation: Callable[[], nn.Module]) -> nn.Sequential:
    """Linear layers of these sizes with `activation` between them (none after the last)."""
    layers: list[nn.Module] = []
    for index, (inputs, outputs) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(inputs, outputs))
        if index < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


class ARAEGenerator(CodeConditionedGenerator):
    """The autoencoder (codes normalised to unit length) and the code generator, noise (B, N) ->
    two hidden ReLU layers of `mlp_hidden` -> codes (B, C)."""

    def __init__(self, vocab_size: int, embedding_dim: int, hidden_dim: int, layers: int, code_size: int,
                 noise_size: int, mlp_hidden: int, nll_samples: int = 1, start_token: int | None = None,
                 end_token: int | None = None, pad_token: int | None = None) -> None:
        super().__init__(vocab_size, embedding_dim, hidden_dim, layers, code_size, start_token, end_token, pad_token)
        if min(noise_size, mlp_hidden, nll_samples) < 1:
            raise ValueError(f"noise_size, mlp_hidden and nll_samples must be >= 1, got {noise_size}, {mlp_hidden}, "
                             f"{nll_samples}")
        self.noise_size = noise_size
        self.nll_samples = nll_samples
        self.code_head = nn.Linear(hidden_dim, code_size)
        self.code_generator = _mlp([noise_size, mlp_hidden, mlp_hidden, code_size], nn.ReLU)
        for name, parameter in self.named_parameters():
            if name.startswith(("code_head.", "code_generator.")):
                nn.init.normal_(parameter, std=INIT_STD)

    def encode(self, sequences: Tensor) -> Tensor:
        """The codes of `sequences` (B, C), each of unit length."""
        return functional.normalize(self.code_head(self.encoder_output(sequences)), dim=1)

    def generated_codes(self, n: int, noise: torch.Generator | None) -> Tensor:
        """`n` codes of the generator (n, C) from Gaussian noise drawn with `noise`."""
        weight = self.output.weight
        return self.code_generator(torch.randn((n, self.noise_size), generator=noise, device=weight.device,
                                               dtype=weight.dtype))

    def prior_codes(self, n: int, noise: torch.Generator | None) -> Tensor:
        """ARAE samples from its code generator."""
        return self.generated_codes(n, noise)

    @property
    def nll_bound(self) -> str:
        return f"an upper bound in expectation: estimated from {self.nll_samples} generated code" \
               f"{'s' if self.nll_samples != 1 else ''}"

    def reconstruction_nll(self, sequences: Tensor) -> Tensor:
        """-log p(x | enc(x)) per counted token of the batch: the autoencoder's loss."""
        mask = self.token_mask(sequences)
        return -(self.teacher_forced_log_probs(sequences, self.encode(sequences)) * mask).sum() / mask.sum()

    def log_probs(self, sequences: Tensor, temperature: float = 1.0) -> Tensor:
        """log (1/K sum_k p(x | G(n_k))) over K = `nll_samples` generated codes, spread over the
        counted tokens (B, T): see the module's docstring."""

        def draw(rows: Tensor, noise: torch.Generator) -> tuple[Tensor, Tensor]:
            codes = self.generated_codes(1, noise).expand(len(rows), -1)  # one code for every row, as p(x) is
            return codes, codes.new_zeros(len(rows))

        return self.bound_log_probs(sequences, temperature, self.nll_samples, draw)


class CodeCritic(nn.Module):
    """The WGAN critic on codes (B, C) -> scores (B,): two hidden LeakyReLU layers, no normalisation
    (WGAN-GP's critics have none)."""

    def __init__(self, code_size: int, hidden: int) -> None:
        super().__init__()
        self.layers = _mlp([code_size, hidden, hidden, 1], lambda: nn.LeakyReLU(CRITIC_SLOPE))
        for parameter in self.parameters():
            nn.init.normal_(parameter, std=INIT_STD)

    def forward(self, codes: Tensor) -> Tensor:
        return self.layers(codes).squeeze(1)
