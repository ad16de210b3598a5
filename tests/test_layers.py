"""Every module of seqgan_music imports only what its layer allows (seqgan_music/layers.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import seqgan_music
from seqgan_music.layers import INTERFACE_LIBRARIES, INTERFACES, LAYERS

PACKAGE = Path(seqgan_music.__file__).parent
RANK = {unit: rank for rank, layer in enumerate(LAYERS) for unit in layer}
CORE = ("corpora", "models", "training", "evaluation", "export", "composing", "run_evaluation")


def module_name(path: Path) -> str:
    """`seqgan_music/training/runs.py` -> `seqgan_music.training.runs`; a package's __init__ is the package."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


MODULES = package_modules()


def unit_of(module: str) -> str:
    """The layer table's name for what holds `module`: its top-level folder or module under seqgan_music."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def imports(module: str, source: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in `source`, at any depth; relative imports are
    resolved, and `from X import name` names the module X.name where that is a module of the package."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[:len(module.split(".")) - node.level + is_package]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.append((node.lineno, submodule if submodule in MODULES else base))
    return list(dict.fromkeys(found))  # `from X import a, b` names X once


def violations(module: str, source: str, is_package: bool = False) -> list[str]:
    """One line per import of `module` that the layer table forbids, naming the rule."""
    unit = unit_of(module)
    if unit not in RANK:
        return [f"{module} is in no layer: add {unit!r} to LAYERS in seqgan_music/layers.py"]
    found = []
    for line, target in imports(module, source, is_package):
        top = target.split(".")[0]
        if top in INTERFACE_LIBRARIES and top not in INTERFACES.get(unit, ()):
            allowed = ", ".join(sorted(INTERFACES.get(unit, ()))) or "none of typer, rich and textual"
            found.append(f"{module}:{line} imports {target}, but {unit} may import {allowed}")
        if top != "seqgan_music":
            continue
        other = unit_of(target)
        if other == unit or RANK.get(other, len(LAYERS)) < RANK[unit]:
            continue
        where = f"in layer {RANK[other]}" if other in RANK else "in no layer"
        found.append(f"{module}:{line} imports {target}, but {unit} (layer {RANK[unit]}) may import only "
                     f"layers below its own, and {other} is {where} (seqgan_music/layers.py)")
    return found


def test_every_module_imports_only_packages_in_layers_below_its_own():
    found = [line for module, path in MODULES.items()
             for line in violations(module, path.read_text(encoding="utf-8"), path.name == "__init__.py")]
    assert not found, "\n".join(found)


def test_each_name_sits_in_one_layer():
    names = [unit for layer in LAYERS for unit in layer]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("core", CORE)
def test_the_core_never_imports_typer_rich_or_textual(core):
    assert core in RANK and core not in INTERFACES
    used = {target.split(".")[0] for module, path in MODULES.items() if unit_of(module) == core
            for _, target in imports(module, path.read_text(encoding="utf-8"), path.name == "__init__.py")}
    assert used & INTERFACE_LIBRARIES == set()


# --- the checker itself can fail -------------------------------------------------------------

def test_a_function_local_import_of_a_higher_layer_is_named_with_its_rule():
    source = "import numpy\n\ndef score():\n    if True:\n        from seqgan_music.training.runs import run_dir\n"
    assert violations("seqgan_music.evaluation.fake", source) == [
        "seqgan_music.evaluation.fake:5 imports seqgan_music.training.runs, but evaluation (layer "
        f"{RANK['evaluation']}) may import only layers below its own, and training is in layer "
        f"{RANK['training']} (seqgan_music/layers.py)"]


@pytest.mark.parametrize("module, source, is_package, target", [
    ("seqgan_music.corpora.fake", "from ..export import midi\n", False, "seqgan_music.export.midi"),
    ("seqgan_music.corpora", "from . import fake\nfrom .. import training\n", True, "seqgan_music.training"),
    ("seqgan_music.export.fake", "import seqgan_music.evaluation.bleu as bleu\n", False,
     "seqgan_music.evaluation.bleu"),  # a peer in the same layer
    ("seqgan_music.atomic", "from seqgan_music import config\n", False, "seqgan_music.config"),
    ("seqgan_music.training.fake", "from seqgan_music.run_evaluation.runs import evaluate_run\n", False,
     "seqgan_music.run_evaluation.runs"),
])
def test_relative_aliased_and_peer_imports_are_caught(module, source, is_package, target):
    [violation] = violations(module, source, is_package)
    assert f" imports {target}, but " in violation


def test_imports_down_the_layers_and_within_a_package_pass():
    source = ("from seqgan_music.evaluation.bleu import bleu\nfrom seqgan_music import __version__, atomic\n"
              "from . import runs\nfrom .samples import write_samples\nimport torch\n")
    assert violations("seqgan_music.training.fake", source) == []


@pytest.mark.parametrize("module, library", [("seqgan_music.corpora.fake", "rich.console"),
                                             ("seqgan_music.run_evaluation.fake", "typer"),
                                             ("seqgan_music.cli.fake", "textual.app")])
def test_an_interface_library_outside_its_interface_is_caught(module, library):
    [violation] = violations(module, f"def show():\n    import {library}\n")
    assert violation.startswith(f"{module}:2 imports {library}, but ")


def test_a_package_missing_from_the_table_is_named():
    assert violations("seqgan_music.newthing.fake", "") == [
        "seqgan_music.newthing.fake is in no layer: add 'newthing' to LAYERS in seqgan_music/layers.py"]
