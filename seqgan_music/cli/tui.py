"""`seqgan-music tui` (and `seqgan-music` alone in a terminal): the Textual app."""

from __future__ import annotations

from seqgan_music.cli.common import HomeOption, home_path, user_errors


@user_errors
def tui(home: HomeOption = None) -> None:
    """Open the terminal app: build and browse corpora, train and watch runs learn, compose and
    export tunes, evaluate runs side by side. Press ? in the app for every key.

    Example: seqgan-music tui --home ~/folk-project
    """
    from seqgan_music.tui.app import create_app

    create_app(home_path(home)).run()
