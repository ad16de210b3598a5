"""The package's layers, bottom to top, written down once.

A package (a folder such as `training/`, or a top-level module such as `atomic.py`) may import only
packages in layers below its own; packages that share a layer are independent of each other.
Run-level evaluation (`run_evaluation/`: it loads trained runs) sits above training, and the
metrics it scores with (`evaluation/`) below it, so that training can score samples with them.
Only the interfaces import typer, rich or textual. tests/test_layers.py reads every module's
imports, at any depth, and fails naming the import and the rule it breaks.
"""

from __future__ import annotations

LAYERS: tuple[tuple[str, ...], ...] = (
    ("seqgan_music", "errors", "layers", "phases"),  # `seqgan_music` is the root __init__ (its version)
    ("atomic", "file_lock", "paths", "progress", "project_files", "formatting", "plotting"),
    ("config",),
    ("models",),
    ("corpora",),
    ("export", "evaluation"),
    ("training",),
    ("run_evaluation", "composing"),
    ("experiments",),
    ("tui",),
    ("cli",),
    ("__main__",),  # `python -m seqgan_music`
)

INTERFACE_LIBRARIES = frozenset({"typer", "rich", "textual"})
INTERFACES: dict[str, frozenset[str]] = {  # which of them each interface may import
    "cli": frozenset({"typer", "rich"}),
    "tui": frozenset({"textual", "rich"}),
}
