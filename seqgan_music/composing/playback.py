"""Play a tune with whatever audio player the machine has; MIDI goes through our own synthesiser first,
so no MIDI player or SoundFont is needed."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from seqgan_music.composing.primer import read_melody_file
from seqgan_music.errors import SeqganError
from seqgan_music.export.wav import write_wav

# Tried in this order; each plays a WAV file given as the last argument and exits when done.
PLAYERS = (("aplay", ["-q"]), ("paplay", []), ("afplay", []), ("ffplay", ["-nodisp", "-autoexit", "-loglevel", "quiet"]))


def find_player() -> tuple[str, list[str]] | None:
    """The first player on PATH, with the arguments it needs before the file."""
    for name, arguments in PLAYERS:
        if shutil.which(name):
            return name, arguments
    return None


def no_player_error(hint: str) -> SeqganError:
    """The one-line error when no player is on PATH: the players looked for, then `hint` on how else to listen."""
    return SeqganError(f"no audio player found (tried {', '.join(name for name, _ in PLAYERS)}): {hint}")


def play_file(file: Path) -> str:
    """Play a .wav or .mid file to the end; returns the player's name, or a one-line error saying how to listen."""
    suffix = file.suffix.lower()
    if suffix not in (".wav", ".mid", ".midi"):
        raise SeqganError(f"cannot play {file.name}: give a .wav or .mid file")
    if not file.is_file():
        raise SeqganError(f"{file} does not exist")
    player = find_player()
    if player is None:
        hint = "open it in any audio player" if suffix == ".wav" else \
            f"write a WAV with `seqgan-music export {file} --format wav` and open it in any audio player"
        raise no_player_error(hint)
    name, arguments = player
    with tempfile.TemporaryDirectory(prefix="seqgan-play-") as folder:
        wav = file
        if suffix != ".wav":
            wav = write_wav(read_melody_file(file), Path(folder) / f"{file.stem}.wav")
        result = subprocess.run([shutil.which(name) or name, *arguments, str(wav)], check=False,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if result.returncode != 0:
        detail = (result.stderr or "").strip().splitlines()
        raise SeqganError(f"{name} could not play {file.name}" + (f" ({detail[-1]})" if detail else "")
                          + ": check the machine's audio output, or open the file in another player")
    return name
