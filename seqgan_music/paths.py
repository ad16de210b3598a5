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
# Names Windows keeps for devices, with or without an extension (con.txt is the console too).
_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.IGNORECASE)


def resolve_home(home: str | Path | None = None) -> Path:
    """The project home: the explicit argument, else $SEQGAN_MUSIC_HOME, else the cwd."""
    chosen = home if home is not None else os.environ.get(HOME_VARIABLE) or Path.cwd()
    return Path(chosen).expanduser().resolve()


def check_name(name: str, what: str = "corpus") -> str:
    """Names become folder names, so only letters, digits, '.', '_' and '-' are allowed, and none
    that Windows cannot hold (a device name such as CON or NUL, a trailing '.'), so that a project
    folder can be copied to any machine."""
    if not _NAME_PATTERN.match(name) or name in {".", ".."}:
        raise SeqganError(
            f"invalid {what} name {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    if _RESERVED.match(name):
        raise SeqganError(f"invalid {what} name {name!r}: Windows keeps {name.split('.')[0]!r} for a device "
                          "(CON, PRN, AUX, NUL, COM0-9, LPT0-9): choose another name")
    if name.endswith("."):
        raise SeqganError(f"invalid {what} name {name!r}: Windows drops a trailing '.': choose a name without one")
    return name


def check_no_case_twin(parent: Path, name: str, what: str) -> None:
    """Refuse a new folder `name` beside one whose name differs only in case: on Windows and macOS
    they are the same folder, so the project could not be copied there."""
    if not parent.is_dir():
        return
    for entry in parent.iterdir():
        if entry.name != name and entry.name.casefold() == name.casefold():
            raise SeqganError(f"a {what} named {entry.name!r} already exists in {parent}, and {name!r} differs from "
                              "it only in case (the same folder on Windows and macOS): choose another name")


def corpora_dir(home: Path) -> Path:
    return home / "corpora"


def corpus_dir(home: Path, name: str) -> Path:
    return corpora_dir(home) / check_name(name)
