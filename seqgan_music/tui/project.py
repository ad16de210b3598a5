"""Keeping every tab up to date with the project folder: a message for each change of its corpora or
runs, and a cheap look at the folder that notices changes made by other processes.

The app posts `ProjectChanged` when it changes the project itself (a corpus built, a run started,
finished or stopped) and when `ProjectWatch` sees the folder differ from its last look; each pane
then rereads what it shows. A look lists corpora/ and checkpoints/ and takes the modification
time of each manifest.json and run.json: a few stat calls, never a metrics.jsonl.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from textual.message import Message
from textual.widget import Widget

from seqgan_music.corpora.corpus import MANIFEST
from seqgan_music.paths import corpora_dir
from seqgan_music.training.runs import RUN_FILE, checkpoints_dir

WATCH_SECONDS = 2.0  # how often the app looks at the project folder


class ProjectChanged(Message):
    """Corpora or runs of the project changed: every pane rereads the ones it shows.

    `forced`: the user asked for a refresh (r), so a pane rereads even what looks unchanged.
    `origin`: the pane that made the change and has shown it already (it is not asked again)."""

    def __init__(self, corpora: bool = False, runs: bool = False, *, forced: bool = False,
                 origin: Widget | None = None) -> None:
        super().__init__()
        self.corpora, self.runs, self.forced, self.origin = corpora, runs, forced, origin


@dataclass(frozen=True)
class ProjectLook:
    """What one look at the project folder saw: each corpus and run with its file's mtime."""

    corpora: tuple[tuple[str, int], ...]
    runs: tuple[tuple[str, int], ...]


def look_at(home: Path) -> ProjectLook:
    """The corpora (manifest.json) and runs (run.json) of `home` with their modification times."""
    return ProjectLook(_stamps(corpora_dir(home), MANIFEST), _stamps(checkpoints_dir(home), RUN_FILE))


def _stamps(root: Path, file: str) -> tuple[tuple[str, int], ...]:
    """(folder name, mtime in ns of folder/file) for each folder of `root` that holds `file`."""
    stamps = []
    try:
        folders = sorted(entry.name for entry in os.scandir(root) if entry.is_dir() and not entry.name.startswith("."))
    except OSError:  # no such folder yet, or unreadable: nothing to show
        return ()
    for name in folders:
        try:
            stamps.append((name, (root / name / file).stat().st_mtime_ns))
        except OSError:
            continue
    return tuple(stamps)


class ProjectWatch:
    """Compares each look at the project folder with the last one."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.last = look_at(home)

    def changes(self) -> ProjectChanged | None:
        """A message naming what changed since the last look, or None."""
        look = look_at(self.home)
        corpora, runs = look.corpora != self.last.corpora, look.runs != self.last.runs
        self.last = look
        return ProjectChanged(corpora, runs) if corpora or runs else None

    def settle(self) -> None:
        """Take the folder as it is now as seen (after the app has shown a change it made)."""
        self.last = look_at(self.home)
