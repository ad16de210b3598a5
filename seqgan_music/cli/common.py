"""What every command shares: the --home option, one-line user errors, rich progress."""

from __future__ import annotations

import errno
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from seqgan_music.errors import SeqganError
from seqgan_music.paths import HOME_VARIABLE, resolve_home

console = Console()
error_console = Console(stderr=True)

HomeOption = Annotated[
    Path | None,
    typer.Option("--home", help=f"Project folder holding corpora/ and checkpoints/ (default: ${HOME_VARIABLE}, else the current folder)."),
]

F = TypeVar("F", bound=Callable[..., Any])


def home_path(home: Path | None) -> Path:
    return resolve_home(home)


def user_errors(command: F) -> F:
    """Turn SeqganError into one red line on stderr and exit status 1, never a traceback; a Ctrl-C
    the command does not handle itself into "interrupted" and exit status 130. That line claims
    nothing about what is on disk; a command that knows what an interruption leaves says so itself
    (train does). An EOFError that escaped the file readers' checks gets a red line too: click would
    print a bare "Aborted." for it. So does a path too long for the file system, wherever a command
    first touches it (an argument, an option, --home). A full disk or an unwritable folder (ENOSPC,
    EDQUOT, EROFS, EACCES, EPERM) gives one line naming the path too: atomic writes leave nothing
    partial behind, so running it again once there is room is all it takes."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except SeqganError as error:
            error_console.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            error_console.print("[yellow]interrupted[/]")
            raise typer.Exit(130) from None
        except EOFError as error:
            detail = escape(f": {error}") if str(error) else ""
            error_console.print(f"[bold red]error:[/] a file or the input ended unexpectedly (EOFError{detail}); "
                                "this is a bug in seqgan-music's checks, please report it", highlight=False,
                                soft_wrap=True)
            raise typer.Exit(1) from None
        except OSError as error:
            message = _too_long(error) if error.errno == errno.ENAMETOOLONG else storage_error(error)
            if message is None:
                raise
            error_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _too_long(error: OSError) -> str:
    """The path the system refused as too long, shortened so that the line stays readable."""
    path = str(error.filename or "")
    shown = path if len(path) <= 80 else f"{path[:50]}...{path[-20:]} ({len(path)} characters)"
    return (f"file name too long: {shown}: a file or folder name may have at most 255 bytes "
            "(and a whole path about 4096): use a shorter one")


_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
_NOT_WRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM)


def storage_error(error: OSError) -> str | None:
    """One line for a full disk or an unwritable place (None for any other OSError)."""
    path = error.filename or "a file"
    if error.errno in _NO_SPACE:
        return f"no space left on device while writing {path}: free some space and run it again"
    if error.errno in _NOT_WRITABLE:
        return (f"cannot use {path} ({error.strerror or 'permission denied'}): "
                "make it writable or choose another folder, and run it again")
    return None


class RichReporter:
    """Renders core progress reports as a rich progress bar on stderr."""

    def __init__(self) -> None:
        self._progress: Progress | None = None
        self._task: Any = None

    def begin(self, task: str, total: int | None = None) -> None:
        self.end()
        self._progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=error_console, transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(task, total=total)

    def advance(self, steps: int = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, steps)

    def end(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def note(self, message: str) -> None:
        error_console.print(message, highlight=False)
