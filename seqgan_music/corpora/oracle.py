"""The SeqGAN synthetic corpus: sequences sampled from an oracle LSTM, which is kept with them.

Because the true distribution is known, a generator trained on this corpus can be scored exactly
(NLL_oracle: the oracle's NLL of the generator's samples), which is why the oracle's parameters
are saved beside the tokens as `oracle.npz`, under the same array names as the paper's file.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import torch

from seqgan_music.corpora.corpus import Corpus, new_manifest
from seqgan_music.corpora.encodings import SymbolEncoding
from seqgan_music.corpora.vocabulary import Vocabulary
from seqgan_music.errors import SeqganError
from seqgan_music.models.oracle import START_TOKEN, OracleLSTM
from seqgan_music.progress import Reporter, SilentReporter

ORACLE_FILE = "oracle.npz"
_BATCH = 5000  # sequences sampled or scored at once: ~100 MB of logits for 5,000 tokens


def build_oracle_corpus(
    name: str,
    params: Path | None = None,
    seed: int | None = None,
    train: int = 10_000,
    held_out: int = 10_000,
    length: int = 20,
    reporter: Reporter = SilentReporter(),
) -> Corpus:
    """Sample `train` training and `held_out` held-out sequences (half valid, half test).

    Exactly one of `params` (the paper's oracle file) and `seed` (a random N(0, 1) oracle) picks
    the oracle; sampling is seeded with `seed` (0 for a parameter file) so a build is reproducible.
    """
    started = time.perf_counter()
    if (params is None) == (seed is None):
        raise SeqganError("give either --params (an oracle .npz such as ../shared/oracle/seqgan_oracle.npz) "
                          "or --seed (a random oracle), not both or neither")
    if train < 1 or held_out < 2 or length < 2:
        raise SeqganError("an oracle corpus needs at least 1 training sequence, 2 held-out sequences "
                          "(one valid, one test) and a length of at least 2")
    sampling_seed = seed if seed is not None else 0
    oracle = OracleLSTM.from_npz(params) if params is not None else OracleLSTM.random(sampling_seed)
    generator = torch.Generator().manual_seed(sampling_seed)

    reporter.begin("sampling oracle sequences", total=train + held_out)
    samples = []
    for start in range(0, train + held_out, _BATCH):
        count = min(_BATCH, train + held_out - start)
        samples.append(oracle.sample(count, length, generator))
        reporter.advance(count)
    reporter.end()
    tokens = torch.cat(samples)
    valid = held_out // 2
    splits = {
        "train": tokens[:train].numpy().astype(np.int32),
        "valid": tokens[train:train + valid].numpy().astype(np.int32),
        "test": tokens[train + valid:].numpy().astype(np.int32),
    }

    reporter.begin("scoring the training samples with the oracle", total=train)
    total_nll = 0.0
    for start in range(0, train, _BATCH):
        batch = tokens[start:min(start + _BATCH, train)]
        total_nll += float(oracle.nll(batch).sum())
        reporter.advance(len(batch))
    reporter.end()

    encoding = SymbolEncoding(separator=" ", length=length, level="token")
    vocabulary = Vocabulary(tuple(str(i) for i in range(oracle.vocab)))
    source = {"kind": "oracle", "params": str(params) if params is not None else None, "seed": seed,
              "start_token": START_TOKEN}
    split = {"method": "separate oracle samples", "train": train, "valid": valid, "test": held_out - valid,
             "seed": sampling_seed}
    counts = {
        "sequences": train + held_out,
        "windows": {s: int(len(a)) for s, a in splits.items()},
        "tokens": (train + held_out) * length,
        "vocabulary": len(vocabulary),
        "nll_oracle_of_train": round(total_nll / train, 4),
    }
    manifest = new_manifest(name, source, encoding, split, counts, [], time.perf_counter() - started)
    return Corpus(name, splits, vocabulary, encoding, manifest, [], {}, files={ORACLE_FILE: _npz_bytes(oracle)})


def corpus_oracle(corpus: Corpus) -> OracleLSTM:
    """The oracle an oracle corpus was sampled from: from memory after a build, from disk after a load."""
    if ORACLE_FILE in corpus.files:
        return OracleLSTM.from_npz(io.BytesIO(corpus.files[ORACLE_FILE]), label=f"of corpus {corpus.name!r}")
    if corpus.folder is not None and (corpus.folder / ORACLE_FILE).is_file():
        return OracleLSTM.from_npz(corpus.folder / ORACLE_FILE)
    raise SeqganError(f"corpus {corpus.name!r} keeps no {ORACLE_FILE}: NLL_oracle needs a corpus built with "
                      "`seqgan-music corpus build oracle`")


def _npz_bytes(oracle: OracleLSTM) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **oracle.to_arrays())
    return buffer.getvalue()
