"""A music corpus from a MIDI folder or the folk collections, built the same way by the CLI, the
terminal app and the experiments: the manifest's source record, the reading and the build."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import closing
from pathlib import Path

from seqgan_music.corpora.corpus import Corpus
from seqgan_music.corpora.encodings import MusicEncoding
from seqgan_music.corpora.folk import folk_files, read_folk_files
from seqgan_music.corpora.midi import find_midi_files, read_midi_folder
from seqgan_music.corpora.music import build_music_corpus
from seqgan_music.corpora.names import printable
from seqgan_music.corpora.split import SplitPlan
from seqgan_music.errors import SeqganError
from seqgan_music.paths import corpora_dir
from seqgan_music.progress import Reporter


def build_midi_corpus(name: str, folder: Path, encoding: MusicEncoding, plan: SplitPlan, reporter: Reporter,
                      track: int | None = None, program: int | None = None) -> Corpus:
    """The melodies of every MIDI file under `folder`; refuses a folder without any."""
    if not find_midi_files(folder):
        raise SeqganError(f"no .mid or .midi files under {printable(str(folder))}: point to a folder of MIDI files")
    source = {"kind": "midi", "path": printable(str(folder.resolve())), "track": track, "program": program}
    return build_music_corpus(name, read_midi_folder(folder, track, program, reporter), encoding, plan, source)


def folk_source(collections: Sequence[str]) -> dict:
    """The manifest's record of a folk build (what decides whether an existing build is the same)."""
    import music21

    return {"kind": "folk", "collections": list(collections), "music21_version": music21.__version__}


def build_folk_corpus(name: str, collections: Sequence[str], encoding: MusicEncoding, plan: SplitPlan,
                      reporter: Reporter, home: Path, workers: int | None = None) -> Corpus:
    """The tunes of music21's folk `collections`, parsed once and cached under `home`'s corpora."""
    cache = corpora_dir(home) / ".cache" / "folk"
    # closing: an interrupt while a tune is encoded stops the parse workers at once, not when collected
    with closing(read_folk_files(folk_files(collections), reporter, cache, workers)) as tunes:
        return build_music_corpus(name, tunes, encoding, plan, folk_source(collections))
