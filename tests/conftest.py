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
