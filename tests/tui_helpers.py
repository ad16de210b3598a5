"""Shared helpers of the terminal app's tests: run the app headless on some panes, wait for it,
read its notifications and the text on its screen. pytest-asyncio is not a dependency: `drive`
runs the coroutine itself."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from textual.pilot import Pilot

from seqgan_music.tui.app import PaneClass, SeqganApp, create_app

Script = Callable[[SeqganApp, Pilot], Awaitable[None]]


def drive(home: Path, script: Script, size: tuple[int, int] = (100, 34),
          panes: Sequence[PaneClass] | None = None) -> None:
    """Run the app (only `panes`, else all) headless at `size`, settled, and play `script` against it."""

    async def main() -> None:
        app = create_app(home, panes)
        app.NOTIFICATION_TIMEOUT = 120  # keep notifications until the test reads them
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            await script(app, pilot)

    asyncio.run(main())


async def settle(pilot: Pilot) -> None:
    """Wait for the messages in flight and every worker."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def wait_until(pilot: Pilot, condition: Callable[[], bool], seconds: float = 20.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not met in time")


def messages(app: SeqganApp, severity: str | None = None) -> list[str]:
    """The notifications shown so far (of one severity, or all)."""
    return [n.message for n in app._notifications if severity is None or n.severity == severity]


def screen_lines(app: SeqganApp) -> list[str]:
    """The text of every line of the screen as drawn (Textual's compositor renders the cells)."""
    return ["".join(segment.text for segment in strip) for strip in app.screen._compositor.render_strips()]
