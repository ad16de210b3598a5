"""Reading the files the project writes itself (corpora, runs, packed models), so that any damage to
one becomes a DamagedFileError that names the file and says what to do, never a traceback, a bare
"Aborted." or a wrong result.

Each project file has one reader, beside the code that writes it (`corpora/corpus.py`,
`training/runs.py`, `training/checkpoint.py`, `composing/model.py`); those readers parse with the
generic readers here and check the shape with `expect` and `expect_fields`, inside
`damage_as_error`, which turns whatever goes wrong into the one error.
"""

from __future__ import annotations

import io
import json
import pickle
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seqgan_music.errors import DamagedFileError, SeqganError

_REASON_CHARS = 120  # a reason is shown on one line, beside a name in a listing
_ZIP_MAGIC = b"PK\x03\x04"


class ShapeError(ValueError):
    """A file parsed but does not hold what its writer writes (raised by `expect`)."""


class UnsafeWeightsError(DamagedFileError):
    """A weights file that holds Python objects, which `weights_only` loading refused to run."""

    def __init__(self, path: object, remedy: str) -> None:
        SeqganError.__init__(self, f"{path} is not a plain weights file (it holds Python objects); "
                                   f"it was not loaded: {remedy}")
        self.path, self.reason, self.remedy = path, "holds Python objects, not plain weights", remedy


@dataclass(frozen=True)
class DamagedItem:
    """A corpus or run a listing cannot read: its name and a one-line reason, shown as its row."""

    name: str
    reason: str


# Everything that reading and checking a damaged file raises: numpy's archives add EOFError,
# BadZipFile and zlib.error; torch's loading RuntimeError (a cut archive, tensors of another shape).
_READ_FAILURES = (OSError, ValueError, TypeError, KeyError, IndexError, EOFError, RuntimeError,
                  zipfile.BadZipFile, zlib.error, pickle.UnpicklingError, SeqganError)


@contextmanager
def damage_as_error(path: Path, remedy: str) -> Iterator[None]:
    """Whatever reading or checking `path` raises inside becomes one DamagedFileError naming it."""
    try:
        yield
    except DamagedFileError:
        raise
    except _READ_FAILURES as error:
        raise DamagedFileError(path, describe(error), remedy) from None


def describe(error: BaseException) -> str:
    """What went wrong, in a few words on one line."""
    if isinstance(error, FileNotFoundError):
        reason = "missing"
    elif isinstance(error, OSError):
        reason = f"cannot be read: {error.strerror or error}"
    elif isinstance(error, UnicodeDecodeError):
        reason = f"not UTF-8 text (byte {error.start})"
    elif isinstance(error, json.JSONDecodeError):
        reason = f"not valid JSON: {error.msg} (line {error.lineno} column {error.colno})"
    elif isinstance(error, (ShapeError, SeqganError)):
        reason = str(error)
    elif isinstance(error, (EOFError, zipfile.BadZipFile, zlib.error)):
        reason = f"cut short or not an archive ({type(error).__name__}{': ' + str(error) if str(error) else ''})"
    else:
        reason = f"{type(error).__name__}: {error}"
    reason = " ".join(reason.split())
    return reason if len(reason) <= _REASON_CHARS else reason[: _REASON_CHARS - 3] + "..."


def expect(condition: bool, what: str) -> None:
    """Check one thing about a file's contents; `what` says what is wrong when it does not hold."""
    if not condition:
        raise ShapeError(what)


def expect_fields(data: object, fields: Mapping[str, type | tuple[type, ...]],
                  optional: Mapping[str, type | tuple[type, ...]] | None = None) -> dict:
    """`data` as a JSON object holding each of `fields` (and any of `optional`) with its type."""
    if not isinstance(data, dict):
        raise ShapeError(f"holds {_json_kind(data)} where an object belongs")
    for key in fields:
        expect(key in data, f"has no {key!r}")
    for key, kind in {**fields, **(optional or {})}.items():
        if key in data:
            value = data[key]
            fits = isinstance(value, kind) and not (isinstance(value, bool) and bool not in _types(kind))
            expect(fits, f"{key!r} holds {_json_kind(value)}")
    return data


def _types(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _json_kind(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "true/false", int: "a number",
             float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def read_bytes(path: Path) -> bytes:
    """The file's bytes; an empty file is damage (every project file holds something)."""
    data = path.read_bytes()
    expect(bool(data), "empty")
    return data


def read_text(path: Path) -> str:
    return read_bytes(path).decode("utf-8")


def read_json(path: Path) -> Any:
    return json.loads(read_text(path))


def json_object_line(line: bytes) -> dict | None:
    """One line of a JSON-lines file as its object, or None when it is not one."""
    try:
        record = json.loads(line.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError and JSONDecodeError alike
        return None
    return record if isinstance(record, dict) else None


def read_json_lines(path: Path, record: Callable[[bytes], dict | None] = json_object_line) -> tuple[list[dict], int]:
    """The records of a file of one JSON object a line, as `record` reads each line, and how many
    lines were none (cut by a crash, null, not UTF-8, another shape): those are skipped, never an
    error. No file: none."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [], 0
    records, damaged = [], 0
    for line in data.splitlines():
        if not line.strip():
            continue
        read = record(line)
        if read is None:
            damaged += 1
        else:
            records.append(read)
    return records, damaged


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of a NumPy .npz archive, read in full now (a damaged member fails here, not
    later) and without pickle."""
    data = read_bytes(path)
    # An .npz is a zip file; np.load would read anything else as one array or a pickle (refused,
    # with advice to load it unsafely).
    expect(data.startswith(_ZIP_MAGIC), "not a NumPy .npz archive")
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        return {key: np.asarray(archive[key]) for key in archive.files}


def read_weights(path: Path, data: bytes, remedy: str) -> Any:
    """What a torch file holds, loaded with `weights_only=True` so that it can hold tensors and
    plain data but never code; a file holding Python objects is refused in one line (torch's own
    message suggests loading it unsafely, which must never be done)."""
    import torch

    with damage_as_error(path, remedy):
        expect(bool(data), "empty")
        try:
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as error:
            if "GLOBAL" in str(error):  # torch names the Python object it refused to create
                raise UnsafeWeightsError(path, remedy) from None
            raise ShapeError("not a torch weights file") from None
        except (RuntimeError, ValueError, EOFError):  # torch's archive reader says it at length
            raise ShapeError("cut short, or not a torch weights file") from None
