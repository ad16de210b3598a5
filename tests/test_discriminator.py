"""The CNN discriminator: the paper's filter bank, dropout keep 0.75, the L2 term, and that it learns."""

import pytest
import torch

from seqgan_music.models.discriminator import (
    PAPER_FILTER_COUNTS,
    PAPER_FILTER_WIDTHS,
    Discriminator,
    filter_bank,
)


def test_filter_bank_for_the_paper_length_is_the_paper_bank() -> None:
    assert filter_bank(20) == (PAPER_FILTER_WIDTHS, PAPER_FILTER_COUNTS)
    assert filter_bank(64) == (PAPER_FILTER_WIDTHS, PAPER_FILTER_COUNTS)


def test_filter_bank_drops_widths_longer_than_the_sequence() -> None:
    assert filter_bank(3) == ((1, 2, 3), (100, 200, 200))
    assert filter_bank(12) == ((1, 2, 3, 4, 5, 6, 7, 8, 9, 10), (100, 200, 200, 200, 200, 100, 100, 100, 100, 100))


def test_filter_bank_scales_counts() -> None:
    widths, counts = filter_bank(20, scale=0.25)
    assert widths == PAPER_FILTER_WIDTHS
    assert counts == (25, 50, 50, 50, 50, 25, 25, 25, 25, 25, 40, 40)
    assert filter_bank(2, scale=0.001) == ((1, 2), (1, 1))
    with pytest.raises(ValueError, match="scale"):
        filter_bank(20, scale=0)


def test_output_shapes() -> None:
    torch.manual_seed(0)
    model = Discriminator(50, 20, embedding_dim=16)
    sequences = torch.randint(0, 50, (7, 20))
    assert model(sequences).shape == (7,)
    assert model.features(sequences).shape == (7, sum(PAPER_FILTER_COUNTS))
    probabilities = model.eval().probability_real(sequences)
    assert probabilities.shape == (7,) and ((probabilities > 0) & (probabilities < 1)).all()


def test_dropout_keep_075_drops_a_quarter() -> None:
    model = Discriminator(10, 5, 8, *filter_bank(5, 0.1))
    assert isinstance(model.dropout, torch.nn.Dropout) and model.dropout.p == pytest.approx(0.25)
    assert Discriminator(10, 5, 8, *filter_bank(5, 0.1), dropout_keep=1.0).dropout.p == 0.0


def test_eval_mode_is_deterministic_and_train_mode_drops() -> None:
    torch.manual_seed(0)
    model = Discriminator(10, 6, 8, *filter_bank(6, 0.2))
    sequences = torch.randint(0, 10, (16, 6))
    model.eval()
    assert torch.equal(model(sequences), model(sequences))
    model.train()
    assert not torch.equal(model(sequences), model(sequences))


def test_loss_includes_half_the_squared_output_weights() -> None:
    torch.manual_seed(0)
    model = Discriminator(10, 6, 8, *filter_bank(6, 0.2), l2=0.0).eval()
    sequences, labels = torch.randint(0, 10, (8, 6)), torch.tensor([1, 0] * 4)
    plain = model.loss(sequences, labels)
    model.l2 = 0.2
    penalty = 0.2 * (model.output.weight.square().sum() + model.output.bias.square().sum()) / 2
    torch.testing.assert_close(model.loss(sequences, labels), plain + penalty)
    assert penalty > 0


def test_learns_to_separate_two_easy_distributions() -> None:
    torch.manual_seed(0)
    model = Discriminator(5, 10, 16, *filter_bank(10, 0.1))
    real, fake = torch.full((32, 10), 1), torch.full((32, 10), 2)
    sequences, labels = torch.cat([real, fake]), torch.cat([torch.ones(32), torch.zeros(32)])
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(10):
        optimiser.zero_grad()
        model.loss(sequences, labels).backward()
        optimiser.step()
    model.eval()
    with torch.no_grad():
        accuracy = ((model.probability_real(sequences) > 0.5).float() == labels).float().mean()
    assert accuracy > 0.95


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"filter_widths": (1, 2, 25), "filter_counts": (1, 1, 1)}, "exceed the sequence length"),
    ({"filter_widths": (1, 2), "filter_counts": (1,)}, "one filter count per filter width"),
    ({"filter_widths": (), "filter_counts": ()}, "one filter count per filter width"),
    ({"filter_widths": (0, 2), "filter_counts": (1, 1)}, ">= 1"),
    ({"dropout_keep": 0.0}, "dropout_keep"),
    ({"dropout_keep": 1.5}, "dropout_keep"),
    ({"l2": -1.0}, "l2"),
])
def test_bad_arguments_are_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Discriminator(10, 20, 8, **kwargs)


def test_one_hot_weights_score_exactly_as_their_ids() -> None:
    torch.manual_seed(0)
    model = Discriminator(7, 6, 8, *filter_bank(6, 0.2)).eval()
    sequences = torch.randint(0, 7, (5, 6))
    weights = torch.nn.functional.one_hot(sequences, 7).float().requires_grad_()  # (B, T, V)
    assert torch.equal(model(weights), model(sequences))
    assert torch.equal(model.probability_real(weights), model.probability_real(sequences))
    model(weights).sum().backward()
    assert weights.grad is not None and weights.grad.abs().sum() > 0  # relaxed inputs carry gradients


def test_soft_weights_are_a_mixture_of_embeddings() -> None:
    torch.manual_seed(0)
    model = Discriminator(7, 6, 8, *filter_bank(6, 0.2)).eval()
    weights = torch.softmax(torch.randn(3, 6, 7), dim=-1)  # (B, T, V)
    torch.testing.assert_close(model.embed(weights), torch.einsum("btv,ve->bet", weights, model.embedding.weight))
    with pytest.raises(ValueError, match="token weights"):
        model(torch.rand(3, 6, 5))
