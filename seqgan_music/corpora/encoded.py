"""Encoded tunes in the compact form a corpus is assembled from.

A parse worker turns each melody into an `EncodedTune` (its tokens and facts, no notes), and runs
of them are packed into an `EncodedBatch`: token ids into the batch's own symbol table, as numpy
arrays. A batch is what a sharded build keeps on disk (`corpora.shards`) and what assembling a
corpus reads, so that memory holds ids, not Melody objects, however many files a folder has.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from seqgan_music.corpora.corpus import Skipped

BATCH_TUNES = 1000  # inputs per batch (and per shard file of a sharded build)


@dataclass(frozen=True)
class EncodedTune:
    """What the corpus keeps of one usable melody: its encoded symbols, the bar-line positions
    windows may start at, its whole-tune symbols (grid16, ending in <end>; else empty), the
    metadata export needs, the facts tunes.json records, and counts for the manifest."""

    symbols: list[str]
    window_starts: list[int] | None
    tune_symbols: list[str]
    metadata: dict
    facts: dict
    pitch_range: tuple[int, int]
    off_grid_notes: int
    dropped_notes: int


@dataclass
class EncodedBatch:
    """Consecutive inputs' results: the usable tunes' tokens as ids into `symbols`, concatenated
    with offsets, their metadata and facts, and the inputs skipped, each list in input order."""

    symbols: np.ndarray  # str: the batch's symbol table
    tokens: np.ndarray  # int32: every tune's symbol ids, one after another
    token_offsets: np.ndarray  # int64 (tunes + 1,)
    tune_tokens: np.ndarray  # int32: whole-tune symbol ids
    tune_offsets: np.ndarray  # int64 (tunes + 1,)
    starts: np.ndarray  # int32: window starts
    start_offsets: np.ndarray  # int64 (tunes + 1,)
    has_starts: np.ndarray  # bool (tunes,): False where the encoding allows a window anywhere
    pitch_ranges: np.ndarray  # int32 (tunes, 2): lowest and highest pitch
    note_counts: np.ndarray  # int64 (tunes, 2): notes off the grid, notes dropped
    metadata: list[dict]
    facts: list[dict]
    skipped: list[Skipped]

    @staticmethod
    def of(results: Sequence[EncodedTune | Skipped]) -> EncodedBatch:
        """Pack results (in input order) into one batch."""
        table: dict[str, int] = {}
        tunes = [r for r in results if isinstance(r, EncodedTune)]

        def ids(symbols: Sequence[str]) -> np.ndarray:
            return np.array([table.setdefault(s, len(table)) for s in symbols], dtype=np.int32)

        def joined(parts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
            offsets = np.zeros(len(parts) + 1, dtype=np.int64)
            offsets[1:] = np.cumsum([len(p) for p in parts])
            return np.concatenate([np.empty(0, np.int32), *parts]).astype(np.int32), offsets

        tokens, token_offsets = joined([ids(t.symbols) for t in tunes])
        tune_tokens, tune_offsets = joined([ids(t.tune_symbols) for t in tunes])
        starts, start_offsets = joined([np.array(t.window_starts or [], dtype=np.int32) for t in tunes])
        return EncodedBatch(
            symbols=np.array(list(table), dtype=str),
            tokens=tokens, token_offsets=token_offsets, tune_tokens=tune_tokens, tune_offsets=tune_offsets,
            starts=starts, start_offsets=start_offsets,
            has_starts=np.array([t.window_starts is not None for t in tunes], dtype=bool),
            pitch_ranges=np.array([t.pitch_range for t in tunes], dtype=np.int32).reshape(-1, 2),
            note_counts=np.array([(t.off_grid_notes, t.dropped_notes) for t in tunes], dtype=np.int64).reshape(-1, 2),
            metadata=[t.metadata for t in tunes],
            facts=[t.facts for t in tunes],
            skipped=[r for r in results if isinstance(r, Skipped)],
        )

    def __len__(self) -> int:
        return len(self.metadata)

    def tokens_of(self, tune: int) -> np.ndarray:
        return self.tokens[self.token_offsets[tune]:self.token_offsets[tune + 1]]

    def tune_tokens_of(self, tune: int) -> np.ndarray:
        return self.tune_tokens[self.tune_offsets[tune]:self.tune_offsets[tune + 1]]

    def window_starts_of(self, tune: int) -> list[int] | None:
        if not self.has_starts[tune]:
            return None
        return self.starts[self.start_offsets[tune]:self.start_offsets[tune + 1]].tolist()

    def window_symbols(self) -> set[str]:
        """Every symbol the tunes' encoded tokens use."""
        return set(self.symbols[np.unique(self.tokens)].tolist())

    def tune_symbols(self) -> set[str]:
        """Every symbol the whole tunes use."""
        return set(self.symbols[np.unique(self.tune_tokens)].tolist())

    def totals(self) -> dict[str, int]:
        """The manifest's counts summed over the batch's tunes."""
        return {
            "tunes": len(self),
            "steps": len(self.tokens),
            "off_grid_notes": int(self.note_counts[:, 0].sum()),
            "dropped_notes": int(self.note_counts[:, 1].sum()),
            "key_estimated": sum(f["key_estimated"] for f in self.facts),
            "transposed": sum(f["transposed"] for f in self.facts),
        }

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays (strings as unicode, the lists as one JSON text) for a .npz that loads
        without pickle."""
        listed = {"metadata": self.metadata, "facts": self.facts, "skipped": [s.to_dict() for s in self.skipped]}
        return {name: getattr(self, name) for name in _ARRAYS} | {"lists": np.array(json.dumps(listed))}

    @staticmethod
    def from_arrays(arrays: Mapping[str, np.ndarray]) -> EncodedBatch:
        """The batch `to_arrays` wrote; KeyError or ValueError when something is missing or damaged."""
        listed = json.loads(str(arrays["lists"]))
        batch = EncodedBatch(**{name: np.asarray(arrays[name]) for name in _ARRAYS},
                             metadata=listed["metadata"], facts=listed["facts"],
                             skipped=[Skipped(s["path"], s["reason"]) for s in listed["skipped"]])
        tunes = len(batch)
        if not (len(batch.facts) == len(batch.has_starts) == len(batch.pitch_ranges) == tunes
                and len(batch.token_offsets) == len(batch.tune_offsets) == len(batch.start_offsets) == tunes + 1
                and batch.token_offsets[-1] == len(batch.tokens) and batch.tune_offsets[-1] == len(batch.tune_tokens)
                and batch.start_offsets[-1] == len(batch.starts)
                and _within(batch.tokens, len(batch.symbols)) and _within(batch.tune_tokens, len(batch.symbols))):
            raise ValueError("the arrays of an encoded batch disagree with each other")
        return batch


_ARRAYS = ("symbols", "tokens", "token_offsets", "tune_tokens", "tune_offsets", "starts", "start_offsets",
           "has_starts", "pitch_ranges", "note_counts")


def _within(ids: np.ndarray, size: int) -> bool:
    return not len(ids) or (int(ids.min()) >= 0 and int(ids.max()) < size)
