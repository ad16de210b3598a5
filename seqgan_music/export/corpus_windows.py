"""Write corpus windows back to files: MIDI (music, with each tune's meter, key and tempo) or text."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seqgan_music.atomic import prepare_output_folder, write_text_atomic
from seqgan_music.corpora.corpus import Corpus
from seqgan_music.corpora.melody import Melody
from seqgan_music.corpora.split import SPLITS
from seqgan_music.errors import SeqganError
from seqgan_music.export.midi import write_midi


def export_windows(corpus: Corpus, out: Path, count: int, split: str = "train") -> list[Path]:
    """Write the first `count` windows of `split`; returns the files written."""
    if split not in SPLITS:
        raise SeqganError(f"unknown split {split!r}: choose train, valid or test")
    windows = corpus.splits[split][:count]
    if len(windows) == 0:
        raise SeqganError(f"the {split} split of corpus {corpus.name!r} is empty: export another split")
    prepare_output_folder(out)
    if not corpus.is_music:
        path = out / f"{corpus.name}-{split}.txt"
        write_text_atomic(path, "".join(f"{corpus.decode(ids)}\n" for ids in windows))
        return [path]
    owners = corpus.tune_of_window.get(split, np.full(len(windows), -1))
    written = []
    for index, ids in enumerate(windows):
        tune = int(owners[index]) if owners[index] >= 0 else None
        melody = corpus.decode(ids, tune)
        assert isinstance(melody, Melody)
        written.append(write_midi(melody, out / f"{corpus.name}-{split}-{index + 1:04d}.mid"))
    return written
