"""REINFORCE, REBAR and RELAX: unbiased against an exact gradient, lower variance, a control that
learns, independent noise, b = argmax z, and the LSTM sampler's teacher-forcing invariant."""

import dataclasses
import itertools
import math
from collections.abc import Callable

import pytest
import torch
from torch import Tensor
from torch.nn import functional

from seqgan_music.models.discriminator import Discriminator, filter_bank
from seqgan_music.models.generator import Generator
from seqgan_music.training.estimators import (
    ControlVariate,
    GumbelNoise,
    MovingBaseline,
    SequenceResidual,
    conditional_gumbel,
    control_variate_step,
    draw_noise,
    gradient_estimates,
    log_gradient_variance,
    perturb,
    reinforce_loss,
    relax,
    relax_sequences,
    relaxed_loss,
    sample_relaxed,
    token_log_probs,
)

LENGTH, VOCAB, SAMPLES = 3, 4, 40_000


def sequence_log_prob(log_probs: Tensor, tokens: Tensor) -> Tensor:
    return token_log_probs(log_probs, tokens).sum(dim=-1)


_setup = torch.Generator().manual_seed(0)
THETA = torch.randn(LENGTH, VOCAB, generator=_setup, dtype=torch.float64)
LINEAR = 2 * torch.randn(LENGTH, VOCAB, generator=_setup, dtype=torch.float64)
PAIRS = 2 * torch.randn(VOCAB, VOCAB, generator=_setup, dtype=torch.float64)


def reward(weights: Tensor) -> Tensor:
    """A nonlinear f of a sequence of 3 independent tokens, one-hot or relaxed (N, 3, 4) -> (N,)."""
    weights = weights.to(torch.float64)
    pairs = sum(torch.einsum("ni,ij,nj->n", weights[:, t], PAIRS, weights[:, t + 1]) for t in range(LENGTH - 1))
    return torch.sigmoid((weights * LINEAR).sum(dim=(1, 2)) + pairs)


def one_hot_reward(tokens: Tensor) -> Tensor:
    return reward(functional.one_hot(tokens, VOCAB).to(torch.float64))


def exact_gradient() -> Tensor:
    """d E[f(b)] / d theta (3, 4) by enumerating all 4^3 sequences."""
    theta = THETA.clone().requires_grad_()
    sequences = torch.tensor(list(itertools.product(range(VOCAB), repeat=LENGTH)))  # (64, 3)
    log_p = sequence_log_prob(functional.log_softmax(theta, dim=-1).expand(len(sequences), -1, -1), sequences)
    (log_p.exp() * one_hot_reward(sequences)).sum().backward()
    return theta.grad


def per_sample_estimates(loss_of: Callable[[Tensor, GumbelNoise], Tensor], seed: int, n: int = SAMPLES) -> Tensor:
    """n independent single-sequence estimates (n, 3, 4) of d E[f] / d theta.

    Every row gets its own copy of theta, so d (n * loss) / d copy is that row's estimate;
    losses are minus the surrogate, hence the sign.
    """
    copies = THETA.expand(n, LENGTH, VOCAB).clone().requires_grad_()
    loss = loss_of(copies, draw_noise(n, LENGTH, VOCAB, torch.Generator().manual_seed(seed)))
    return -torch.autograd.grad(loss * n, copies)[0]


def reinforce(baseline: float = 0.0) -> Callable[[Tensor, GumbelNoise], Tensor]:
    def loss_of(logits: Tensor, noise: GumbelNoise) -> Tensor:
        relaxation = relax(logits, noise)
        log_p = sequence_log_prob(relaxation.log_probs, relaxation.tokens)
        return reinforce_loss(log_p, one_hot_reward(relaxation.tokens), baseline)
    return loss_of


def relaxed(control: ControlVariate, broken: bool = False) -> Callable[[Tensor, GumbelNoise], Tensor]:
    """The REBAR/RELAX loss; `broken` puts z where z~ belongs (a control not conditioned on b)."""
    def loss_of(logits: Tensor, noise: GumbelNoise) -> Tensor:
        relaxation = relax(logits, noise)
        if broken:
            relaxation = dataclasses.replace(relaxation, z_tilde=relaxation.z)
        return relaxed_loss(relaxation, one_hot_reward(relaxation.tokens), reward, control)
    return loss_of


def relax_control(seed: int) -> ControlVariate:
    """RELAX's control with a residual that is not zero, so r_phi takes part in the estimate."""
    torch.manual_seed(seed)
    residual = SequenceResidual(VOCAB, hidden=8, width=3)
    torch.nn.init.normal_(residual.output.weight, std=0.5)
    return ControlVariate(temperature=0.8, scale=0.7, learn_temperature=True, learn_scale=True, residual=residual)


def mean_variance(estimates: Tensor) -> float:
    return float(estimates.var(dim=0).mean())


def expected_reward() -> float:
    sequences = torch.tensor(list(itertools.product(range(VOCAB), repeat=LENGTH)))
    log_p = sequence_log_prob(functional.log_softmax(THETA, dim=-1).expand(len(sequences), -1, -1), sequences)
    return float((log_p.exp() * one_hot_reward(sequences)).sum())


ESTIMATORS = {
    "reinforce": lambda: reinforce(),
    "reinforce with baseline": lambda: reinforce(expected_reward()),
    "rebar": lambda: relaxed(ControlVariate()),
    "relax": lambda: relaxed(relax_control(seed=3)),
}


@pytest.mark.parametrize("name", ESTIMATORS)
def test_estimators_are_unbiased(name: str) -> None:
    estimates = per_sample_estimates(ESTIMATORS[name](), seed=1)
    standard_error = estimates.std(dim=0) / math.sqrt(SAMPLES)
    deviation = (estimates.mean(dim=0) - exact_gradient()) / standard_error  # (3, 4)
    assert deviation.abs().max() < 4.5, deviation


def test_a_control_evaluated_at_z_instead_of_z_tilde_is_caught_as_biased() -> None:
    estimates = per_sample_estimates(relaxed(ControlVariate(), broken=True), seed=1)
    standard_error = estimates.std(dim=0) / math.sqrt(SAMPLES)
    assert ((estimates.mean(dim=0) - exact_gradient()) / standard_error).abs().max() > 20


# An autoregressive toy with an exact gradient: p(b_1) = softmax(FIRST), p(b_t | b_t-1) = softmax(NEXT[t-1, b_t-1]).
FIRST = torch.randn(VOCAB, generator=_setup, dtype=torch.float64)
NEXT = 1.5 * torch.randn(LENGTH - 1, VOCAB, VOCAB, generator=_setup, dtype=torch.float64)
AR_SAMPLES = 30_000


def autoregressive_logits(first: Tensor, following: Tensor, tokens: Tensor) -> Tensor:
    """Each position's logits (n, T, V) given the tokens before it; first (n, V), following (n, T-1, V, V)."""
    rows = torch.arange(len(tokens))
    later = [following[rows, t - 1, tokens[:, t - 1]] for t in range(1, LENGTH)]
    return torch.stack([first, *later], dim=1)


def autoregressive_exact_gradient() -> Tensor:
    """d E[f(b)] / d (FIRST, NEXT), flattened, by enumerating all 4^3 sequences."""
    first, following = FIRST.clone().requires_grad_(), NEXT.clone().requires_grad_()
    sequences = torch.tensor(list(itertools.product(range(VOCAB), repeat=LENGTH)))  # (64, 3)
    n = len(sequences)
    logits = autoregressive_logits(first.expand(n, -1), following.expand(n, -1, -1, -1), sequences)
    log_p = sequence_log_prob(functional.log_softmax(logits, dim=-1), sequences)
    (log_p.exp() * one_hot_reward(sequences)).sum().backward()
    return torch.cat([first.grad.flatten(), following.grad.flatten()])


def autoregressive_estimates(control: ControlVariate | None, seed: int, n: int = AR_SAMPLES) -> Tensor:
    """n single-sequence estimates (n, 4 + 2*16): REINFORCE without a control, else REBAR/RELAX.

    Tokens are drawn one after the other as the argmax of their own perturbed logits, as the
    LSTM sampler does, then every position's logits are recomputed with gradients given b_<t.
    """
    first = FIRST.expand(n, -1).clone().requires_grad_()
    following = NEXT.expand(n, -1, -1, -1).clone().requires_grad_()
    noise = draw_noise(n, LENGTH, VOCAB, torch.Generator().manual_seed(seed))
    tokens = torch.zeros(n, LENGTH, dtype=torch.long)
    with torch.no_grad():
        for t in range(LENGTH):
            tokens[:, t] = perturb(autoregressive_logits(first, following, tokens)[:, t], noise.u[:, t])[1].argmax(-1)
    relaxation = relax(autoregressive_logits(first, following, tokens), noise, tokens)
    rewards = one_hot_reward(tokens)
    if control is None:
        loss = reinforce_loss(sequence_log_prob(relaxation.log_probs, tokens), rewards)
    else:
        loss = relaxed_loss(relaxation, rewards, reward, control)
    grads = torch.autograd.grad(loss * n, [first, following])
    return -torch.cat([g.reshape(n, -1) for g in grads], dim=1)


def deviation_in_standard_errors(estimates: Tensor, exact: Tensor) -> Tensor:
    return (estimates.mean(dim=0) - exact) / (estimates.std(dim=0) / math.sqrt(len(estimates)))


@pytest.mark.parametrize("name, control", [
    ("reinforce", lambda: None),
    ("rebar, per-token control", lambda: ControlVariate()),
    ("relax, per-token control", lambda: relax_control(seed=5)),
])
def test_on_an_autoregressive_generator_the_per_token_control_is_unbiased(name: str, control) -> None:
    deviation = deviation_in_standard_errors(autoregressive_estimates(control(), seed=6), autoregressive_exact_gradient())
    assert deviation.abs().max() < 4.5, (name, deviation)


def test_on_an_autoregressive_generator_regans_sequence_control_is_biased() -> None:
    """Why "token" is the default: the single control over the whole relaxed sequence misses how
    earlier tokens move later relaxations (see estimators.py)."""
    estimates = autoregressive_estimates(ControlVariate(per_token=False), seed=6)
    assert deviation_in_standard_errors(estimates, autoregressive_exact_gradient()).abs().max() > 20


def test_on_an_autoregressive_generator_the_per_token_control_lowers_the_variance() -> None:
    plain = mean_variance(autoregressive_estimates(None, seed=7))
    rebar = mean_variance(autoregressive_estimates(ControlVariate(), seed=7))
    assert rebar < 0.8 * plain, (rebar, plain)


def test_rebar_and_relax_have_lower_variance_than_reinforce() -> None:
    plain = mean_variance(per_sample_estimates(reinforce(), seed=2))
    rebar = mean_variance(per_sample_estimates(relaxed(ControlVariate()), seed=2))
    relax_ = mean_variance(per_sample_estimates(relaxed(ControlVariate(residual=SequenceResidual(VOCAB, 8))), seed=2))
    assert rebar < 0.6 * plain
    assert relax_ < 0.6 * plain


def test_training_the_relax_control_lowers_the_variance() -> None:
    control = relax_control(seed=4)
    start = {name: value.detach().clone() for name, value in control.named_parameters()}
    learned = [p for p in control.parameters() if p.requires_grad]
    assert len(learned) == len(start)  # log lambda, eta and r_phi's four tensors all learn
    optimizer = torch.optim.Adam(learned, lr=0.03)
    before = mean_variance(per_sample_estimates(relaxed(control), seed=5, n=20_000))
    for step in range(120):
        copies = THETA.expand(500, LENGTH, VOCAB).clone().requires_grad_()  # theta is fixed; one copy per row
        loss = relaxed(control)(copies, draw_noise(500, LENGTH, VOCAB, torch.Generator().manual_seed(100 + step)))
        control_variate_step(loss, [copies], optimizer)
    after = mean_variance(per_sample_estimates(relaxed(control), seed=5, n=20_000))
    assert after < 0.8 * before
    for name, value in control.named_parameters():
        assert not torch.allclose(value, start[name]), name


def test_control_variate_step_follows_the_exact_gradient_of_the_mean_squared_estimate() -> None:
    control = relax_control(seed=12).double()
    learned = [p for p in control.parameters() if p.requires_grad]
    noise = draw_noise(64, LENGTH, VOCAB, torch.Generator().manual_seed(12))

    def loss_and_copies() -> tuple[Tensor, Tensor]:
        copies = THETA.expand(64, LENGTH, VOCAB).clone().requires_grad_()
        return relaxed(control)(copies, noise), copies

    def mean_square() -> float:
        loss, copies = loss_and_copies()
        return float(torch.autograd.grad(loss, copies)[0].square().mean())

    numeric = []
    for parameter in learned:
        flat = parameter.data.view(-1)
        for i in range(flat.numel()):
            flat[i] += 1e-6
            up = mean_square()
            flat[i] -= 2e-6
            down = mean_square()
            flat[i] += 1e-6
            numeric.append((up - down) / 2e-6)
    start = torch.cat([p.detach().flatten() for p in learned])
    loss, copies = loss_and_copies()
    control_variate_step(loss, [copies], torch.optim.SGD(learned, lr=1.0))
    stepped = start - torch.cat([p.detach().flatten() for p in learned])  # SGD with lr 1 moves by the gradient
    torch.testing.assert_close(stepped, torch.tensor(numeric, dtype=torch.float64), rtol=1e-4, atol=1e-12)
    assert stepped.abs().max() > 1e-6


def test_every_token_of_every_sequence_has_its_own_noise() -> None:
    probabilities = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)
    n = 20_000
    logits = probabilities.log().expand(n, 2, VOCAB)  # every row and position the same distribution
    tokens = relax(logits, draw_noise(n, 2, VOCAB, torch.Generator().manual_seed(6))).tokens  # (n, 2)
    frequencies = functional.one_hot(tokens.flatten(), VOCAB).double().mean(dim=0)
    assert torch.allclose(frequencies, probabilities, atol=4.5 * math.sqrt(0.25 / (2 * n)))
    # Shared noise would make these agree always; independent draws agree with probability sum p^2.
    agree = float(probabilities.square().sum())
    tolerance = 4.5 * math.sqrt(agree * (1 - agree) / (n // 2))
    assert float((tokens[:, 0] == tokens[:, 1]).double().mean()) == pytest.approx(agree, abs=tolerance)
    assert float((tokens[0::2, 0] == tokens[1::2, 0]).double().mean()) == pytest.approx(agree, abs=tolerance)


def test_b_is_the_argmax_of_z_and_z_tilde_is_z_given_b() -> None:
    n = 40_000
    logits = torch.tensor([0.5, -1.0, 2.0, 0.0], dtype=torch.float64).expand(n, 1, VOCAB)
    relaxation = relax(logits, draw_noise(n, 1, VOCAB, torch.Generator().manual_seed(7)))
    assert torch.equal(relaxation.tokens, relaxation.z.argmax(dim=-1))
    assert torch.equal(relaxation.tokens, relaxation.z_tilde.argmax(dim=-1))
    assert not torch.equal(relaxation.z, relaxation.z_tilde)
    # z~ is a fresh draw from the same conditional as z: equal means within each class of b.
    for token in range(VOCAB):
        rows = relaxation.tokens[:, 0] == token
        z, z_tilde = relaxation.z[rows, 0], relaxation.z_tilde[rows, 0]  # (n_b, V)
        standard_error = torch.sqrt((z.var(dim=0) + z_tilde.var(dim=0)) / int(rows.sum()))
        assert ((z.mean(dim=0) - z_tilde.mean(dim=0)) / standard_error).abs().max() < 4.5


def test_relaxations_stay_finite_and_consistent_at_extreme_noise() -> None:
    log_probs = functional.log_softmax(torch.tensor([[[0.0, -80.0, 30.0, -1e4]]]).expand(4, 1, 4), dim=-1)
    v = torch.tensor([[0.0, 1.0, 0.5, 1.0 - 2**-24], [1.0 - 2**-24, 0.0, 0.0, 1e-30],
                      [0.5, 0.5, 0.5, 0.5], [1e-38, 1.0 - 2**-24, 1.0 - 2**-24, 0.0]]).view(4, 1, 4)
    tokens = torch.tensor([[0], [1], [3], [2]])
    z_tilde = conditional_gumbel(log_probs, tokens, v)
    assert torch.isfinite(z_tilde).all()
    assert torch.equal(z_tilde.argmax(dim=-1), tokens)
    relaxation = relax(log_probs, GumbelNoise(v, v))
    assert torch.isfinite(relaxation.z).all() and torch.isfinite(relaxation.z_tilde).all()


def test_moving_baseline_uses_only_earlier_batches() -> None:
    baseline = MovingBaseline(decay=0.5)
    assert baseline.advance(torch.tensor([1.0, 3.0])) == 0.0
    assert baseline.advance(torch.tensor([4.0])) == 2.0
    assert baseline.value == pytest.approx(3.0)


def test_log_gradient_variance_is_the_log_mean_elementwise_variance() -> None:
    assert log_gradient_variance(torch.tensor([[0.0, 2.0], [2.0, 0.0]])) == pytest.approx(math.log(2.0))
    with pytest.raises(ValueError, match="at least 2"):
        log_gradient_variance(torch.zeros(1, 3))
    parameter = torch.zeros(10, requires_grad=True)
    noise = torch.Generator().manual_seed(8)
    estimates = gradient_estimates(lambda: (parameter * 3.0 * torch.randn(10, generator=noise)).sum(), parameter, 2000)
    assert estimates.shape == (2000, 10)
    assert log_gradient_variance(estimates) == pytest.approx(math.log(9.0), abs=0.05)


def tiny_models() -> tuple[Generator, Discriminator]:
    torch.manual_seed(0)
    generator = Generator(5, 8, 8)
    discriminator = Discriminator(5, 6, 8, *filter_bank(6, 0.05)).eval()
    return generator, discriminator


def test_sampled_tokens_are_the_argmax_of_the_teacher_forced_relaxation() -> None:
    generator, _ = tiny_models()
    tokens, noise = sample_relaxed(generator, 64, 6, torch.Generator().manual_seed(9))
    assert tokens.shape == (64, 6) and noise.u.shape == noise.v.shape == (64, 6, 5)
    assert len({tuple(row) for row in tokens.tolist()}) > 32  # the same start, yet different noise per row
    relaxation = relax_sequences(generator, tokens, noise)
    assert relaxation.z.requires_grad
    assert torch.equal(relaxation.z.argmax(dim=-1), tokens)
    assert torch.equal(relaxation.z_tilde.argmax(dim=-1), tokens)
    with torch.no_grad():
        recomputed = relax(generator(generator.shift_right(tokens))[0], noise)  # b drawn afresh as argmax z
    assert torch.equal(recomputed.tokens, tokens)
    torch.testing.assert_close(relaxation.z, recomputed.z, rtol=0, atol=1e-6)


def test_rebar_loss_gives_finite_generator_gradients_and_leaves_the_discriminator_alone() -> None:
    generator, discriminator = tiny_models()
    tokens, noise = sample_relaxed(generator, 16, 6, torch.Generator().manual_seed(10))
    with torch.no_grad():
        rewards = discriminator.probability_real(tokens)
    loss = relaxed_loss(relax_sequences(generator, tokens, noise), rewards, discriminator.probability_real,
                        ControlVariate())
    loss.backward(inputs=list(generator.parameters()))
    grads = [p.grad for p in generator.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert generator.output.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in discriminator.parameters())


def test_control_variate_step_on_the_lstm_writes_the_estimate_and_moves_the_control() -> None:
    generator, discriminator = tiny_models()
    control = ControlVariate(learn_temperature=True, learn_scale=True, residual=SequenceResidual(5, 4, 3))
    start = {name: value.detach().clone() for name, value in control.named_parameters()}
    optimizer = torch.optim.Adam([p for p in control.parameters() if p.requires_grad], lr=0.01)  # moves even tiny grads
    tokens, noise = sample_relaxed(generator, 16, 6, torch.Generator().manual_seed(11))
    with torch.no_grad():
        rewards = discriminator.probability_real(tokens)
    loss = relaxed_loss(relax_sequences(generator, tokens, noise), rewards, discriminator.probability_real, control)
    parameters = list(generator.parameters())
    expected = torch.autograd.grad(loss, parameters, retain_graph=True)
    variance = control_variate_step(loss, parameters, optimizer, [generator.output.weight])
    assert math.isfinite(variance) and variance > 0
    for parameter, grad in zip(parameters, expected):
        torch.testing.assert_close(parameter.grad, grad)
    assert all(p.grad is None for p in discriminator.parameters())
    for name in ("log_temperature", "scale", "residual.output.weight"):
        assert not torch.equal(dict(control.named_parameters())[name], start[name]), name
