"""The command's start-up: a Ctrl-C while its modules load is one line and exit 130, not a traceback."""

import subprocess
import sys

# Sends this process a real SIGINT just as the commands start to load (the slow part of start-up:
# torch, music21 and the rest), so the interrupt lands inside that import every time.
INTERRUPTED_WHILE_LOADING = """
import importlib.abc, os, signal, sys

class InterruptOnLoad(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "seqgan_music.cli.commands":
            os.kill(os.getpid(), signal.SIGINT)
        return None

signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal (a background job inherits "ignore")
sys.meta_path.insert(0, InterruptOnLoad())
sys.argv = ["seqgan-music", "runs"]
from seqgan_music.cli import main
main()
"""


def test_a_ctrl_c_while_the_commands_load_is_one_line_and_exit_130():
    result = subprocess.run([sys.executable, "-c", INTERRUPTED_WHILE_LOADING], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 130, result.stderr
    assert result.stderr.strip() == "interrupted" and "Traceback" not in result.stderr


def test_the_application_is_there_for_whoever_imports_it():
    from typer import Typer

    from seqgan_music.cli import app, main

    assert isinstance(app, Typer) and callable(main)
    import seqgan_music.cli.commands  # noqa: F401  (importing the module again changes nothing)
    from seqgan_music.cli import app as again

    assert again is app
