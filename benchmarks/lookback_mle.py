"""Lookback and attention over bars against the plain LSTM: MLE on whole Nottingham tunes, same seed, on the CPU.

Builds the grid16 Nottingham corpus from its MIDI folder (about half a minute), then trains each
generator for a few epochs on the whole tune sequences of the train split (header, PART, BAR,
steps, REPEAT/ENDINGs, <end>), in batches of tunes of similar length padded with <pad> (masked
after <end>, as `Generator.token_mask` does), and prints after every epoch the per-token NLL of
the valid split, on all tokens and on the tokens that repeat the same place one part back, and
the seconds the epoch took. The rows: a plain LSTM; the lookback LSTM; lookback with attention
over the tune's earlier bars (models/bar_attention.py); that with the header read at every step;
and a plain LSTM with as many parameters as the lookback one (a larger hidden layer), so the gain
is not merely size.

    python benchmarks/lookback_mle.py                       # 10 epochs each, E=32, H=64
    python benchmarks/lookback_mle.py --epochs 3 --models lookback attention --json /tmp/lookback.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from seqgan_music.corpora.corpus import Corpus
from seqgan_music.corpora.encodings import BAR, music_encoding
from seqgan_music.corpora.midi import read_midi_folder
from seqgan_music.corpora.music import build_music_corpus
from seqgan_music.corpora.split import SplitPlan
from seqgan_music.corpora.tunes import HEADER_FIELDS, PART
from seqgan_music.errors import SeqganError
from seqgan_music.models.generator import Generator
from seqgan_music.corpora.vocabulary import Vocabulary
from seqgan_music.models.lookback import LookbackIds, features_along
from seqgan_music.training.optimization import descend

# --models key: (row name, lookback, attention over bars, header inputs)
MODELS = {"plain": ("plain LSTM", False, False, False), "lookback": ("lookback LSTM", True, False, False),
          "attention": ("lookback + attention", True, True, False),
          "header": ("lookback + attention + header", True, True, True),
          "plain-matched": ("plain LSTM H={hidden}", False, False, False)}
DEFAULT_MIDI = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "nottingham" / "MIDI"


def padded_batches(tunes: list[np.ndarray], batch_size: int, pad: int) -> list[Tensor]:
    """The tunes sorted by length, cut into batches, each padded to its longest tune: (B, T_batch)."""
    ordered = sorted(tunes, key=len)
    batches = []
    for first in range(0, len(ordered), batch_size):
        group = ordered[first:first + batch_size]
        batch = torch.full((len(group), max(map(len, group))), pad, dtype=torch.long)
        for row, tune in enumerate(group):
            batch[row, :len(tune)] = torch.from_numpy(tune.astype(np.int64))
        batches.append(batch)
    return batches


def build_generator(corpus: Corpus, lookback: bool, embedding: int, hidden: int, seed: int,
                    attention: bool = False, header: bool = False) -> Generator:
    vocabulary = corpus.vocabulary
    torch.manual_seed(seed)
    return Generator(len(vocabulary), embedding, hidden, end_token=vocabulary.end, pad_token=vocabulary.pad,
                     lookback=lookback, bar_token=vocabulary.id(BAR), part_token=vocabulary.id(PART),
                     attention=attention, header_tokens=len(HEADER_FIELDS) if header else 0)


def size(generator: Generator) -> int:
    return sum(parameter.numel() for parameter in generator.parameters())


def matched_hidden(corpus: Corpus, embedding: int, hidden: int, seed: int) -> int:
    """The smallest hidden size at which a plain LSTM has at least the lookback LSTM's parameters."""
    target = size(build_generator(corpus, True, embedding, hidden, seed))
    while size(build_generator(corpus, False, embedding, hidden, seed)) < target:
        hidden += 1
    return hidden


def repeats_one_part_back(batch: Tensor, vocabulary: Vocabulary) -> Tensor:
    """(B, T) True where the token equals the token at the same place one part back."""
    ids = LookbackIds(vocabulary.id(BAR), vocabulary.id(PART), none=len(vocabulary))  # none: no real token
    return features_along(batch, ids).one_part[:, :-1] == batch


@torch.no_grad()
def valid_nll(generator: Generator, batches: list[Tensor], repeats: list[Tensor]) -> tuple[float, float]:
    """Nats per counted token of the valid tunes: all tokens, and the tokens of `repeats` (B, T) each."""
    generator.eval()
    total = count = repeat_total = repeat_count = 0.0
    for batch, repeated in zip(batches, repeats):
        mask = generator.token_mask(batch)
        nll = -generator.log_probs(batch) * mask
        repeated = repeated.to(mask.dtype) * mask
        total, count = total + float(nll.sum()), count + float(mask.sum())
        repeat_total, repeat_count = repeat_total + float((nll * repeated).sum()), repeat_count + float(repeated.sum())
    return total / count, repeat_total / max(repeat_count, 1.0)


def train(generator: Generator, train_batches: list[Tensor], valid_batches: list[Tensor], repeats: list[Tensor],
          epochs: int, learning_rate: float, grad_clip: float, seed: int) -> list[dict]:
    parameters = list(generator.parameters())
    optimizer = torch.optim.Adam(parameters, lr=learning_rate)
    shuffle = torch.Generator().manual_seed(seed + 1)
    rows = []
    for epoch in range(1, epochs + 1):
        generator.train()
        started = time.perf_counter()
        losses = []
        for index in torch.randperm(len(train_batches), generator=shuffle).tolist():
            loss = generator.mle_loss(train_batches[index])
            descend(loss, parameters, optimizer, grad_clip)
            losses.append(float(loss.detach()))
        seconds = time.perf_counter() - started
        nll, repeat_nll = valid_nll(generator, valid_batches, repeats)
        rows.append({"epoch": epoch, "train_loss": sum(losses) / len(losses), "nll_valid": nll,
                     "nll_valid_repeats": repeat_nll, "seconds": seconds})
        print(f"  epoch {epoch}: train loss {rows[-1]['train_loss']:.4f}  NLL_valid {nll:.4f}  "
              f"(repeats one part back {repeat_nll:.4f})  {seconds:.1f} s", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--midi", type=Path, default=DEFAULT_MIDI, help="the Nottingham MIDI folder")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--embedding", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--grad-clip", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS), help="the rows to train")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    try:
        corpus = build_music_corpus("nottingham", read_midi_folder(args.midi), music_encoding("grid16"),
                                    SplitPlan(), {"kind": "midi"})
    except SeqganError as error:
        sys.exit(f"error: {error}")
    vocabulary = corpus.vocabulary
    train_tunes, valid_tunes = corpus.tune_sequences["train"], corpus.tune_sequences["valid"]
    lengths = [len(tune) for tune in train_tunes]
    print(f"corpus built in {time.perf_counter() - started:.0f} s: {len(train_tunes)} train tunes "
          f"({sum(lengths)} tokens, {np.mean(lengths):.0f} mean, {max(lengths)} longest), "
          f"{len(valid_tunes)} valid tunes, vocabulary {len(vocabulary)}")
    train_batches = padded_batches(train_tunes, args.batch_size, vocabulary.pad)
    valid_batches = padded_batches(valid_tunes, args.batch_size, vocabulary.pad)
    repeats = [repeats_one_part_back(batch, vocabulary) for batch in valid_batches]
    print(f"valid tokens that repeat the same place one part back: "
          f"{sum(int(r.sum()) for r in repeats)} of {sum(len(t) for t in valid_tunes)}")
    results = {"settings": vars(args) | {"midi": str(args.midi), "json": None if args.json is None else str(args.json)},
               "models": {}}
    bigger = matched_hidden(corpus, args.embedding, args.hidden, args.seed)
    for key in args.models:
        name, lookback, attention, header = MODELS[key]
        hidden = bigger if key == "plain-matched" else args.hidden
        name = name.format(hidden=hidden)
        generator = build_generator(corpus, lookback, args.embedding, hidden, args.seed, attention, header)
        parameters = size(generator)
        print(f"{name}: E={args.embedding} H={hidden}, {parameters} parameters", flush=True)
        rows = train(generator, train_batches, valid_batches, repeats, args.epochs, args.learning_rate,
                     args.grad_clip, args.seed)
        results["models"][name] = {"parameters": parameters, "epochs": rows}
    print(f"\n{'':34}{'parameters':>12}{'NLL_valid':>11}{'repeats':>9}{'s/epoch':>9}")
    for name, result in results["models"].items():
        last = result["epochs"][-1]
        mean_seconds = sum(row["seconds"] for row in result["epochs"]) / len(result["epochs"])
        print(f"{name:34}{result['parameters']:>12}{last['nll_valid']:>11.4f}{last['nll_valid_repeats']:>9.4f}"
              f"{mean_seconds:>9.1f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
