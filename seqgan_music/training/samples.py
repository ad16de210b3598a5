"""Write generated token windows in the corpus's own form: MIDI (and a token listing) for music,
one line per sequence for text, oracle and grammar corpora."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seqgan_music.atomic import write_text_atomic
from seqgan_music.corpora.corpus import Corpus
from seqgan_music.corpora.melody import Melody
from seqgan_music.export.midi import write_midi


def write_samples(corpus: Corpus, samples: np.ndarray, prefix: Path, metadata: dict | None = None) -> list[Path]:
    """Write `samples` (N, T) next to `prefix`: `<prefix>.txt` always, `<prefix>-NN.mid` for music.

    Music samples take `metadata` (meter, key, tempo) when given, else the corpus's most common meter.
    """
    prefix.parent.mkdir(parents=True, exist_ok=True)
    listing = prefix.with_name(prefix.name + ".txt")
    if not corpus.is_music:
        write_text_atomic(listing, "".join(f"{corpus.decode(row)}\n" for row in samples))
        return [listing]
    write_text_atomic(listing, "".join(" ".join(corpus.symbols(row)) + "\n" for row in samples))
    written = [listing]
    context = metadata or {"meter": _common_meter(corpus), "tempo": 120.0}
    for index, row in enumerate(samples, start=1):
        melody = corpus.encoding.decode(corpus.symbols(row), context)  # type: ignore[attr-defined]
        assert isinstance(melody, Melody)
        written.append(write_midi(melody, prefix.with_name(f"{prefix.name}-{index:02d}.mid")))
    return written


def _common_meter(corpus: Corpus) -> str:
    meters = corpus.manifest.get("counts", {}).get("meters") or {"4/4": 1}
    return max(meters, key=meters.get)
