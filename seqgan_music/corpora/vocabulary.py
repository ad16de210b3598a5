"""A vocabulary: token strings, their ids, and which ids are special (padding, end, unknown)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from seqgan_music.errors import SeqganError
from seqgan_music.project_files import expect, expect_fields

PAD = "<pad>"
END = "<end>"
UNK = "<unk>"


@dataclass(frozen=True)
class Vocabulary:
    """Token strings indexed by id; `pad`, `end` and `unk` are ids or None when unused."""

    tokens: tuple[str, ...]
    pad: int | None = None
    end: int | None = None
    unk: int | None = None

    def __post_init__(self) -> None:
        if len(set(self.tokens)) != len(self.tokens):
            raise SeqganError("vocabulary has duplicate tokens: rebuild the corpus")
        object.__setattr__(self, "_index", {t: i for i, t in enumerate(self.tokens)})

    @staticmethod
    def build(symbols: Iterable[str], specials: Sequence[str] = (), order: Sequence[str] = ()) -> Vocabulary:
        """Specials first, then `order` (fixed tokens), then the other symbols sorted."""
        fixed = list(dict.fromkeys([*specials, *order]))
        rest = sorted(set(symbols) - set(fixed))
        tokens = tuple(fixed + rest)
        index = {t: i for i, t in enumerate(tokens)}
        return Vocabulary(tokens, index.get(PAD), index.get(END), index.get(UNK))

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self._index  # type: ignore[attr-defined]

    def id(self, token: str) -> int:
        index: dict[str, int] = self._index  # type: ignore[attr-defined]
        if token in index:
            return index[token]
        if self.unk is not None:
            return self.unk
        raise KeyError(token)

    def ids(self, tokens: Iterable[str]) -> list[int]:
        return [self.id(t) for t in tokens]

    def token(self, token_id: int) -> str:
        return self.tokens[int(token_id)]

    def to_json(self) -> str:
        data = {"tokens": list(self.tokens), "pad": self.pad, "end": self.end, "unk": self.unk}
        return json.dumps(data, ensure_ascii=False, indent=1)

    @staticmethod
    def from_data(data: object) -> Vocabulary:
        """The vocabulary `to_json` wrote, as parsed JSON; a ShapeError says what does not fit."""
        fields = expect_fields(data, {"tokens": list}, {"pad": (int, type(None)), "end": (int, type(None)),
                                                        "unk": (int, type(None))})
        tokens = fields["tokens"]
        expect(bool(tokens) and all(isinstance(t, str) for t in tokens), "'tokens' is not a list of strings")
        expect(len(set(tokens)) == len(tokens), "'tokens' has duplicates")
        special = [fields.get(key) for key in ("pad", "end", "unk")]
        expect(all(i is None or 0 <= i < len(tokens) for i in special), "a special token id is outside 'tokens'")
        return Vocabulary(tuple(tokens), *special)
