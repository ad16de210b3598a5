"""REINFORCE, REBAR and RELAX gradient estimators for a generator scored by a discriminator (ReGAN).

ReGAN (Balagopalan et al. 2019) trains the generator with REBAR (Tucker et al. 2017) and RELAX
(Grathwohl et al. 2018): the score-function estimate with a control variate c(z) evaluated on
a Gumbel-softmax relaxation z of the sampled tokens b. Three things are kept right here that
public code gets wrong: every token of every sequence has its own noise; b is exactly the argmax
of its z; RELAX's control variate is trained, down the variance of the estimate.

Each loss is a scalar whose gradient with respect to the generator's parameters is minus the
estimate of d E[f(b)] / d theta, so minimising it raises the expected reward f. The core works on
logits (B, T, V) and score functions, so a tiny problem with an exact gradient can test it; the
LSTM helpers (`sample_relaxed`, `relax_sequences`) sit on top.

ReGAN's control reads the whole relaxed sequence at once. With an autoregressive generator z_t
depends on the discrete b_<t, so z jumps where a change of theta flips an earlier token; the
pathwise term d c(z) / d theta holds b_<t fixed and misses those jumps, which biases that control
for every parameter that shapes an early token's distribution (exact for independent tokens).
The per-token control (`ControlVariate(per_token=True)`, the default) conditions each position's
control on the tokens before it and is unbiased there too; the tests check both against an exact
gradient on an autoregressive toy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional

from seqgan_music.models.generator import Generator
from seqgan_music.models.sampling import uniforms

Score = Callable[[Tensor], Tensor]  # token weights (B, T, V), rows on the simplex -> (B,), e.g. P(real)


@dataclass(frozen=True)
class GumbelNoise:
    """One uniform per token of every sequence: u draws z = log p + Gumbel, v draws z~ given b."""

    u: Tensor  # (B, T, V)
    v: Tensor  # (B, T, V)


@dataclass(frozen=True)
class Relaxation:
    """The sampled tokens with their two relaxations, all differentiable in the log-probabilities."""

    log_probs: Tensor  # (B, T, V) normalised
    tokens: Tensor  # (B, T) b = argmax z
    z: Tensor  # (B, T, V) log p + Gumbel(u)
    z_tilde: Tensor  # (B, T, V) a draw of z given b, from v


def draw_noise(batch: int, length: int, vocab: int, generator: torch.Generator | None,
               device: torch.device | str | None = None) -> GumbelNoise:
    """Fresh, independent u and v for every (sequence, position, token) from `generator`."""
    shape = (batch, length, vocab)
    return GumbelNoise(uniforms(shape, generator, device), uniforms(shape, generator, device))


def _work_dtype(logits: Tensor) -> torch.dtype:
    """At least float32: bfloat16 Gumbels would tie and round far too coarsely."""
    return torch.promote_types(logits.dtype, torch.float32)


def _log_neg_log(u: Tensor, dtype: torch.dtype) -> Tensor:
    """log(-log u), with u clamped into (0, 1) so that neither end gives inf."""
    info = torch.finfo(dtype)
    return torch.log(-torch.log(u.to(dtype).clamp(info.tiny, 1.0 - info.eps / 2)))


def perturb(logits: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
    """Normalised log-probabilities and z = log p + Gumbel(u), both shaped like `logits`.

    The sampler and `relax` both go through here, so equal logits give bit-equal z.
    """
    log_probs = functional.log_softmax(logits.to(_work_dtype(logits)), dim=-1)
    return log_probs, log_probs - _log_neg_log(u, log_probs.dtype)


def conditional_gumbel(log_probs: Tensor, tokens: Tensor, v: Tensor) -> Tensor:
    """z~ (B, T, V) distributed as z given argmax z = `tokens` (REBAR, appendix).

    z~_b = -log(-log v_b) and z~_i = -log(-log v_i / p_i - log v_b) for i != b, computed as a
    logaddexp so that tiny p_i cannot overflow. Where rounding would tie z~_i with z~_b it is
    moved one float below, so argmax z~ is b exactly.
    """
    log_neg_log_v = _log_neg_log(v, log_probs.dtype)  # (B, T, V)
    index = tokens.unsqueeze(-1)  # (B, T, 1)
    top = log_neg_log_v.gather(-1, index)  # (B, T, 1)
    others = -torch.logaddexp(log_neg_log_v - log_probs, top)  # (B, T, V)
    below_top = torch.nextafter(-top, torch.full_like(top, -math.inf))  # (B, T, 1)
    return torch.minimum(others, below_top).scatter(-1, index, -top)


def relax(logits: Tensor, noise: GumbelNoise, tokens: Tensor | None = None) -> Relaxation:
    """b = argmax z and both relaxations for logits (B, T, V) (normalised here).

    `tokens` (B, T): b already drawn from these logits (the sampler's), used as given.
    """
    if logits.ndim != 3 or noise.u.shape != logits.shape or noise.v.shape != logits.shape:
        raise ValueError(f"relax takes logits (B, T, V) and noise of the same shape, got {tuple(logits.shape)}, "
                         f"{tuple(noise.u.shape)} and {tuple(noise.v.shape)}")
    log_probs, z = perturb(logits, noise.u)
    tokens = z.argmax(dim=-1) if tokens is None else tokens
    return Relaxation(log_probs, tokens, z, conditional_gumbel(log_probs, tokens, noise.v))


def token_log_probs(log_probs: Tensor, tokens: Tensor) -> Tensor:
    """log p(b_t | b_<t) (B, T): the chosen tokens' log-probabilities from normalised (B, T, V)."""
    return log_probs.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)


@dataclass
class MovingBaseline:
    """An exponential moving average of past batches' mean reward.

    It is used before the batch is folded in, so it does not depend on that batch's samples and
    REINFORCE stays unbiased. The first batch gets 0 (plain REINFORCE).
    """

    decay: float = 0.9
    value: float | None = None

    def advance(self, rewards: Tensor) -> float:
        """The baseline for this batch's rewards (B,); then fold their mean in."""
        used = 0.0 if self.value is None else self.value
        mean = float(rewards.mean())
        self.value = mean if self.value is None else self.decay * self.value + (1.0 - self.decay) * mean
        return used


def reinforce_loss(sequence_log_probs: Tensor, rewards: Tensor, baseline: float = 0.0) -> Tensor:
    """Minus the batch mean of (f(b) - baseline) log p(b): REINFORCE on whole-sequence rewards (B,)."""
    return -((rewards - baseline).detach() * sequence_log_probs).mean()


class SequenceResidual(nn.Module):
    """RELAX's free part r_phi of the control variate: a small CNN over the relaxed sequence.

    Conv1d(V -> hidden, `width`, same padding), tanh, the mean over positions, then a linear
    output that starts at zero, so RELAX starts out as REBAR and training can only move it away
    where that lowers the variance. About V * hidden * width weights.
    """

    def __init__(self, vocab: int, hidden: int = 16, width: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv1d(vocab, hidden, width, padding="same")
        self.output = nn.Linear(hidden, 1)
        nn.init.zeros_(self.output.weight)
        nn.init.zeros_(self.output.bias)

    def forward(self, weights: Tensor) -> Tensor:
        """Token weights (B, T, V) -> r (B,)."""
        hidden = torch.tanh(self.conv(weights.to(self.conv.weight.dtype).transpose(1, 2)))  # (B, H, T)
        return self.output(hidden.mean(dim=2)).squeeze(1)


class ControlVariate(nn.Module):
    """c = eta * f(w) + r_phi(w), f scoring the relaxed sequence w that the control reads.

    `per_token` True (the default, control "token"): one control c_t(z_t) per position, reading
    w^(t) = the sampled tokens b_<t one-hot, softmax(z_t / lambda) at t, and uniform weights after
    t. Nothing in it depends on b_t or later tokens except through z_t, so the REBAR identity holds
    at every position given b_<t and the estimate is unbiased for an autoregressive generator; it
    scores T sequences per sequence. `per_token` False (control "sequence", ReGAN's): one control
    per sequence, w = softmax(z / lambda) at every position; biased for an autoregressive
    generator (module docstring), exact for independent tokens.

    Without `residual` this is REBAR's control; with a `SequenceResidual` it is RELAX's.
    lambda is stored as log lambda (so it stays positive), eta as itself (the best scale can be
    negative); each is fixed (requires_grad False) unless asked to be learned. Pass the
    parameters that require grad to the optimizer of `control_variate_step`.
    """

    def __init__(self, temperature: float = 0.5, scale: float = 1.0, learn_temperature: bool = False,
                 learn_scale: bool = False, residual: nn.Module | None = None, per_token: bool = True) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"the relaxation temperature must be > 0, got {temperature}")
        self.log_temperature = nn.Parameter(torch.tensor(math.log(temperature)), requires_grad=learn_temperature)
        self.scale = nn.Parameter(torch.tensor(float(scale)), requires_grad=learn_scale)
        self.residual = residual
        self.per_token = per_token

    @property
    def temperature(self) -> float:
        return math.exp(float(self.log_temperature.detach()))

    def forward(self, z: Tensor, tokens: Tensor, score: Score) -> Tensor:
        """The control for relaxed logits z (B, T, V) of the sampled `tokens` (B, T): (B, T), one
        per position, for the per-token control; (B, 1) for the sequence control."""
        soft = torch.softmax(z / self.log_temperature.exp().to(z.dtype), dim=-1)  # (B, T, V)
        weights = per_token_sequences(soft, tokens) if self.per_token else soft  # (B*T or B, T, V)
        value = self.scale.to(z.dtype) * score(weights).to(z.dtype)
        if self.residual is not None:
            value = value + self.residual(weights).to(z.dtype)
        return value.reshape(len(z), -1)


def per_token_sequences(soft: Tensor, tokens: Tensor) -> Tensor:
    """(B*T, T, V): for every sequence and position t, b_<t one-hot, `soft` at t, uniform after t."""
    batch, length, vocab = soft.shape
    before = torch.ones(length, length, device=soft.device).tril(-1)  # (row t, position j): j < t
    at = torch.eye(length, device=soft.device)
    after = 1.0 - before - at
    one_hot = functional.one_hot(tokens, vocab).to(soft.dtype)  # (B, T, V)
    rows = (before[None, :, :, None] * one_hot[:, None] + at[None, :, :, None] * soft[:, None]
            + after[None, :, :, None] / vocab)  # (B, T rows, T, V)
    return rows.reshape(batch * length, length, vocab)


def relaxed_loss(relaxation: Relaxation, rewards: Tensor, score: Score, control: ControlVariate) -> Tensor:
    """Minus the batch mean of the REBAR / RELAX surrogate (REBAR when `control` has no residual).

    Per sequence: sum over t of [f(b) - c_t(z~)] log p(b_t | b_<t) + c_t(z) - c_t(z~), one control
    per position (or one for all, the sequence control), the first factor cut off from theta
    (z~ detached) but not from the control's parameters, so that `control_variate_step` sees
    every way the estimate depends on them. `rewards` are f(b) (B,), computed without gradient.
    All T tokens count, even after an end token: the controls read all of z, and dropping their
    score terms would bias the estimate. The discriminator behind `score` is in the graph: use
    `loss.backward(inputs=...)` or `control_variate_step`, not a bare backward.
    """
    tokens = relaxation.tokens
    chosen = token_log_probs(relaxation.log_probs, tokens)  # (B, T)
    signal = rewards.detach().to(chosen.dtype)[:, None] - control(relaxation.z_tilde.detach(), tokens, score)
    surrogate = (signal * chosen).sum(dim=1) \
        + (control(relaxation.z, tokens, score) - control(relaxation.z_tilde, tokens, score)).sum(dim=1)  # (B,)
    return -surrogate.mean()


def control_variate_step(loss: Tensor, parameters: Sequence[Tensor], optimizer: torch.optim.Optimizer,
                         variance_parameters: Sequence[Tensor] | None = None) -> float:
    """Backward for the generator and one step of the control variate down the estimate's variance.

    Writes d loss / d `parameters` into their .grad (as backward would, without touching the
    discriminator), then steps `optimizer` (phi, and log lambda and eta when learned) along
    d mean(g^2) / d(control), where g is the estimate for `variance_parameters` (default: all
    of `parameters`). E[g] does not depend on the control, so this is d Var(g) (RELAX, eq. 5).
    g is taken with create_graph=True so the derivative reaches the control through every term.
    Returns mean(g^2).
    """
    parameters = list(parameters)
    chosen = parameters if variance_parameters is None else list(variance_parameters)
    positions = {id(p): i for i, p in enumerate(parameters)}
    if any(id(p) not in positions for p in chosen):
        raise ValueError("variance_parameters must be among parameters")
    estimate = torch.autograd.grad(loss, parameters, create_graph=True)
    variance = torch.cat([estimate[positions[id(p)]].flatten() for p in chosen]).square().mean()
    controls = [p for group in optimizer.param_groups for p in group["params"] if p.requires_grad]
    if not controls:
        raise ValueError("the optimizer holds no control parameter that requires grad; without one, "
                         "call loss.backward(inputs=parameters)")
    control_grads = torch.autograd.grad(variance, controls, allow_unused=True)
    for parameter, grad in zip(parameters, estimate):
        grad = grad.detach()
        parameter.grad = grad if parameter.grad is None else parameter.grad + grad
    optimizer.zero_grad(set_to_none=True)
    for control, grad in zip(controls, control_grads):
        control.grad = grad
    optimizer.step()
    return float(variance.detach())


def gradient_estimates(estimate_loss: Callable[[], Tensor], parameter: Tensor, k: int) -> Tensor:
    """K estimates (K, *parameter.shape) of d loss / d `parameter`, one call (a fresh batch) each."""
    return torch.stack([torch.autograd.grad(estimate_loss(), parameter)[0] for _ in range(k)])


def log_gradient_variance(estimates: Tensor) -> float:
    """The natural log of the mean over elements of the variance across K estimates (K, ...).

    What ReGAN plots per estimator, usually for the generator's output layer.
    """
    if estimates.shape[0] < 2:
        raise ValueError(f"a variance needs at least 2 estimates, got {estimates.shape[0]}")
    return float(torch.log(estimates.var(dim=0).mean()))


@torch.no_grad()
def sample_relaxed(generator: Generator, batch: int, length: int,
                   noise_source: torch.Generator | None) -> tuple[Tensor, GumbelNoise]:
    """`batch` sequences b (B, T), each token the argmax of its z, and the noise that drew them.

    Hand b and the noise to `relax_sequences` for the differentiable z and z~.
    """
    noise = draw_noise(batch, length, generator.vocab_size, noise_source, generator.device)
    return gumbel_max_tokens(generator, noise.u), noise


@torch.no_grad()
def gumbel_max_tokens(generator: Generator, u: Tensor) -> Tensor:
    """Sequences (B, T) whose every token is the argmax of log p + Gumbel(u[:, t]) (B, T, V): an exact
    draw from the generator, by the Gumbel-max trick. Fed the start token first and then each drawn
    token, as `Generator.sample` does; the tokens are not padded after an end token."""
    batch, length, _ = u.shape
    previous = torch.full((batch,), generator.start_token, dtype=torch.long, device=generator.device)  # (B,)
    state = generator.initial_state(batch)
    tokens = torch.empty((batch, length), dtype=torch.long, device=generator.device)  # (B, T)
    for t in range(length):
        logits, state = generator.step(previous, state)
        previous = perturb(logits, u[:, t])[1].argmax(dim=-1)
        tokens[:, t] = previous
    return tokens


def relax_sequences(generator: Generator, tokens: Tensor, noise: GumbelNoise) -> Relaxation:
    """The relaxation of `sample_relaxed`'s tokens, recomputed by teacher forcing with gradients.

    z is the sampler's z up to the rounding of torch's no-grad and autograd LSTM kernels (about
    1e-7), so argmax z is b except at such near-ties (about one token in 10^7); b is kept as
    drawn and z~ is conditioned on it, so the estimate stays consistent either way.
    """
    logits, _ = generator(generator.shift_right(tokens))  # (B, T, V)
    return relax(logits, noise, tokens)
