"""Where corpora and runs live: `<home>/corpora/<name>/` and `<home>/checkpoints/<run>/`.

`<home>` is `--home DIR`, else the `SEQGAN_MUSIC_HOME` environment variable, else the current
directory.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from seqgan_music.errors import SeqganError

HOME_VARIABLE = "SEQGAN_MUSIC_HOME"
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def resolve_home(home: str | Path | None = None) -> Path:
    """The project home: the explicit argument, else $SEQGAN_MUSIC_HOME, else the cwd."""
    chosen = home if home is not None else os.environ.get(HOME_VARIABLE) or Path.cwd()
    return Path(chosen).expanduser().resolve()


def check_name(name: str, what: str = "corpus") -> str:
    """Names become folder names, so only letters, digits, '.', '_' and '-' are allowed."""
    if not _NAME_PATTERN.match(name) or name in {".", ".."}:
        raise SeqganError(
            f"invalid {what} name {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def corpora_dir(home: Path) -> Path:
    return home / "corpora"


def corpus_dir(home: Path, name: str) -> Path:
    return corpora_dir(home) / check_name(name)
