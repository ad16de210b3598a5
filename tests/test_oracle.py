"""The oracle LSTM (the paper's gate equations, sampling, NLL) and the oracle corpus built from it."""

from pathlib import Path

import numpy as np
import pytest
import torch

from seqgan_music.corpora.corpus import load_corpus
from seqgan_music.corpora.oracle import build_oracle_corpus, corpus_oracle
from seqgan_music.corpora.text import build_text_corpus
from seqgan_music.errors import SeqganError
from seqgan_music.models.oracle import ARRAY_NAMES, OracleLSTM

PAPER_ORACLE = Path(__file__).resolve().parents[2] / "shared" / "oracle" / "seqgan_oracle.npz"
needs_paper_oracle = pytest.mark.skipif(
    not PAPER_ORACLE.is_file(), reason=f"the paper's oracle file is not at {PAPER_ORACLE} (../shared is absent)"
)


def numpy_nll(arrays: dict[str, np.ndarray], tokens: np.ndarray) -> np.ndarray:
    """The README's equations, literally, in float64: mean NLL per token of each sequence."""
    a = {k: v.astype(np.float64) for k, v in arrays.items()}

    def sigmoid(z: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-z))

    n, length = tokens.shape
    hidden = a["U_i"].shape[0]
    h, c = np.zeros((n, hidden)), np.zeros((n, hidden))
    previous = np.zeros(n, dtype=np.int64)
    total = np.zeros(n)
    for t in range(length):
        x = a["embedding"][previous]
        i = sigmoid(x @ a["W_i"] + h @ a["U_i"] + a["b_i"])
        f = sigmoid(x @ a["W_f"] + h @ a["U_f"] + a["b_f"])
        o = sigmoid(x @ a["W_o"] + h @ a["U_o"] + a["b_o"])
        candidate = np.tanh(x @ a["W_c"] + h @ a["U_c"] + a["b_c"])
        c = f * c + i * candidate
        h = o * np.tanh(c)
        logits = h @ a["W_out"] + a["b_out"]
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        total -= log_probs[np.arange(n), tokens[:, t]]
        previous = tokens[:, t]
    return total / length


def small_oracle(seed: int = 1) -> OracleLSTM:
    # embedding 7 != hidden 5, so a transposed or swapped matrix cannot pass unnoticed
    return OracleLSTM.random(seed, vocab=11, embedding=7, hidden=5)


@pytest.fixture(scope="module")
def paper_oracle() -> OracleLSTM:
    return OracleLSTM.from_npz(PAPER_ORACLE)


def test_nll_follows_the_readme_equations():
    oracle = small_oracle()
    tokens = np.random.default_rng(0).integers(0, 11, size=(64, 9))
    expected = numpy_nll(oracle.to_arrays(), tokens)
    np.testing.assert_allclose(oracle.nll(torch.from_numpy(tokens)).numpy(), expected, rtol=1e-5, atol=1e-5)


@needs_paper_oracle
def test_paper_oracle_nll_follows_the_readme_equations(paper_oracle):
    tokens = np.random.default_rng(1).integers(0, 5000, size=(16, 20))
    expected = numpy_nll(paper_oracle.to_arrays(), tokens)
    np.testing.assert_allclose(paper_oracle.nll(torch.from_numpy(tokens)).numpy(), expected, rtol=1e-4, atol=1e-4)


def test_samples_follow_the_oracle_distribution():
    """First and second tokens drawn by `sample` have the frequencies the README equations give."""
    oracle = small_oracle(seed=4)
    samples = oracle.sample(40_000, 2, torch.Generator().manual_seed(0)).numpy()
    arrays = oracle.to_arrays()
    first = np.exp(-numpy_nll(arrays, np.arange(11)[:, None]))  # P(first token = v)
    np.testing.assert_allclose(np.bincount(samples[:, 0], minlength=11) / len(samples), first, atol=0.01)
    after = samples[samples[:, 0] == np.argmax(first)]
    pairs = np.stack([np.full(11, np.argmax(first)), np.arange(11)], axis=1)
    second = np.exp(-2 * numpy_nll(arrays, pairs)) / first.max()  # P(second = v | first = the likeliest)
    np.testing.assert_allclose(np.bincount(after[:, 1], minlength=11) / len(after), second, atol=0.02)


@needs_paper_oracle
def test_paper_oracle_scores_its_own_samples_and_random_tokens_as_the_readme_says(paper_oracle):
    generator = torch.Generator().manual_seed(0)
    own = paper_oracle.sample(2000, 20, generator)
    assert own.shape == (2000, 20) and own.dtype == torch.long
    assert abs(float(paper_oracle.nll(own).mean()) - 5.75) < 0.15
    uniform = torch.randint(0, 5000, (2000, 20), generator=generator)
    assert abs(float(paper_oracle.nll(uniform).mean()) - 11.4) < 0.3


def test_random_oracle_is_reproducible_by_seed():
    a, b, c = small_oracle(3).to_arrays(), small_oracle(3).to_arrays(), small_oracle(5).to_arrays()
    assert sorted(a) == sorted(ARRAY_NAMES)
    assert all(np.array_equal(a[k], b[k]) for k in ARRAY_NAMES)
    assert not np.array_equal(a["embedding"], c["embedding"])
    assert a["W_i"].shape == (7, 5) and a["U_i"].shape == (5, 5) and a["W_out"].shape == (5, 11)
    first = small_oracle(3).sample(50, 6, torch.Generator().manual_seed(9))
    again = small_oracle(3).sample(50, 6, torch.Generator().manual_seed(9))
    assert torch.equal(first, again)


def test_from_arrays_round_trips_and_the_weights_are_never_trained():
    oracle = small_oracle()
    rebuilt = OracleLSTM.from_arrays(oracle.to_arrays())
    tokens = torch.randint(0, 11, (8, 4))
    assert torch.equal(oracle.nll(tokens), rebuilt.nll(tokens))
    assert list(oracle.parameters()) == []


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple] = []

    def begin(self, task, total=None):
        self.events.append(("begin", task, total))

    def advance(self, steps=1):
        self.events.append(("advance", steps))

    def end(self):
        self.events.append(("end",))

    def note(self, message):
        self.events.append(("note", message))


def test_oracle_corpus_shapes_manifest_and_the_kept_oracle(tmp_path):
    reporter = Recorder()
    corpus = build_oracle_corpus("synth", seed=7, train=500, held_out=200, length=20, reporter=reporter)
    assert {s: a.shape for s, a in corpus.splits.items()} == {"train": (500, 20), "valid": (100, 20), "test": (100, 20)}
    assert all(a.dtype == np.int32 for a in corpus.splits.values())
    assert corpus.vocabulary.tokens == tuple(str(i) for i in range(5000))
    assert (corpus.vocabulary.pad, corpus.vocabulary.end, corpus.vocabulary.unk) == (None, None, None)
    manifest = corpus.manifest
    assert manifest["source"] == {"kind": "oracle", "params": None, "seed": 7, "start_token": 0}
    assert manifest["split"] == {"method": "separate oracle samples", "train": 500, "valid": 100, "test": 100, "seed": 7}
    assert manifest["counts"]["windows"] == {"train": 500, "valid": 100, "test": 100}
    assert manifest["encoding"] == {"name": "symbols", "separator": " ", "length": 20, "level": "token", "extras": {}}
    assert ("begin", "sampling oracle sequences", 700) in reporter.events
    assert sum(e[1] for e in reporter.events if e[0] == "advance") == 700 + 500

    oracle = corpus_oracle(corpus)
    kept, expected = oracle.to_arrays(), OracleLSTM.random(7).to_arrays()
    assert all(np.array_equal(kept[k], expected[k]) for k in ARRAY_NAMES)
    train = torch.from_numpy(corpus.splits["train"]).long()
    nll = oracle.nll(train)
    assert manifest["counts"]["nll_oracle_of_train"] == pytest.approx(float(nll.mean()), abs=1e-3)

    corpus.save(tmp_path)
    assert (tmp_path / "corpora" / "synth" / "oracle.npz").is_file()
    loaded = load_corpus(tmp_path, "synth")
    assert loaded.files == {} and loaded.content_hash() == corpus.content_hash()
    assert torch.equal(corpus_oracle(loaded).nll(torch.from_numpy(loaded.splits["train"]).long()), nll)
    assert loaded.decode(loaded.splits["valid"][0]) == " ".join(str(t) for t in corpus.splits["valid"][0])


def test_oracle_corpus_is_reproducible_and_seeds_differ():
    first = build_oracle_corpus("a", seed=2, train=30, held_out=10, length=5)
    again = build_oracle_corpus("a", seed=2, train=30, held_out=10, length=5)
    other = build_oracle_corpus("a", seed=3, train=30, held_out=10, length=5)
    assert first.content_hash() == again.content_hash() != other.content_hash()
    assert first.splits["valid"].shape == (5, 5) and first.splits["test"].shape == (5, 5)


@needs_paper_oracle
def test_oracle_corpus_from_the_paper_file():
    corpus = build_oracle_corpus("paper", params=PAPER_ORACLE, train=300, held_out=100)
    assert corpus.manifest["source"]["params"] == str(PAPER_ORACLE)
    assert corpus.manifest["split"]["seed"] == 0
    assert abs(corpus.manifest["counts"]["nll_oracle_of_train"] - 5.75) < 0.4
    with np.load(PAPER_ORACLE) as paper:
        kept = corpus_oracle(corpus).to_arrays()
        assert all(np.array_equal(paper[k], kept[k]) for k in ARRAY_NAMES)


def test_oracle_corpus_needs_exactly_one_of_params_and_seed(tmp_path):
    with pytest.raises(SeqganError, match="either --params"):
        build_oracle_corpus("o")
    with pytest.raises(SeqganError, match="either --params"):
        build_oracle_corpus("o", params=tmp_path / "x.npz", seed=1)
    with pytest.raises(SeqganError, match="at least"):
        build_oracle_corpus("o", seed=1, train=10, held_out=1)


def save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("case", ["missing array", "wrong shape", "wrong dtype", "not finite", "not an npz",
                                  "an npy", "missing file", "a folder", "pickled object"])
def test_malformed_oracle_files_are_user_errors(tmp_path, case):
    arrays = small_oracle().to_arrays()
    path = tmp_path / "oracle.npz"
    if case == "missing array":
        save_arrays(path, {k: v for k, v in arrays.items() if k != "b_out"})
    elif case == "wrong shape":
        save_arrays(path, {**arrays, "W_f": arrays["W_f"][:, :4]})
    elif case == "wrong dtype":
        save_arrays(path, {**arrays, "b_i": arrays["b_i"].astype(np.int64)})
    elif case == "not finite":
        save_arrays(path, {**arrays, "U_o": np.full_like(arrays["U_o"], np.nan)})
    elif case == "not an npz":
        path.write_text("hello, not an archive")
    elif case == "an npy":
        path = tmp_path / "oracle.npy"
        np.save(path, arrays["embedding"])
    elif case == "a folder":
        path.mkdir()
    elif case == "pickled object":
        save_arrays(path, {**arrays, "b_c": np.array([{"a": 1}], dtype=object)})
    for load in (OracleLSTM.from_npz, lambda p: build_oracle_corpus("o", params=p, train=2, held_out=2)):
        with pytest.raises(SeqganError, match=r"^malformed oracle file .*: "):
            load(path)


def test_nll_rejects_tokens_outside_the_vocabulary():
    with pytest.raises(SeqganError, match="outside"):
        small_oracle().nll(torch.tensor([[0, 11]]))


def test_corpus_oracle_of_a_corpus_without_one(tmp_path):
    text = tmp_path / "lines.txt"
    text.write_text("a b\nc d\n" * 20)
    with pytest.raises(SeqganError, match="keeps no oracle.npz"):
        corpus_oracle(build_text_corpus("t", text))
