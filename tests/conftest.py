"""Shared test helpers: the real data in ../shared beside the repository."""

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`../shared/data` beside the repository; skips the test where it is absent (a user's machine)."""
    data = SHARED / "data"
    if not data.is_dir():
        pytest.skip(f"real data not found at {data} (expected ../shared/data beside the repository)")
    return data


class RecordingReporter:
    """A progress Reporter that records every call, to check what long work reports."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def begin(self, task: str, total: int | None = None) -> None:
        self.calls.append(("begin", task, total))

    def advance(self, steps: int = 1) -> None:
        self.calls.append(("advance", steps))

    def end(self) -> None:
        self.calls.append(("end",))

    def note(self, message: str) -> None:
        self.calls.append(("note", message))


@pytest.fixture
def recorder() -> RecordingReporter:
    return RecordingReporter()
