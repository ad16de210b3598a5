"""seqgan-music: compose folk tunes with Sequence Generative Adversarial Nets.

Layers, bottom to top (`layers.py` holds the table a test enforces; each folder's __init__ says
what it may import): the top-level modules (errors, atomic, paths, progress, config, ...); models/;
corpora/ (sources -> token sequences); export/ and evaluation/ (the metrics); training/;
run_evaluation/ (trained runs scored and compared) and composing/; experiments/; the interfaces
tui/ (Textual) and cli/ (Typer + rich). A package imports only layers below its own. The core
never imports typer, rich or textual; it reports progress through `progress.Reporter`.
"""

__version__ = "0.1.0"
