"""One-command reproductions of the papers' tables: runs, evaluation and a report.

May import every core package (run_evaluation, training, composing, evaluation, corpora, ...) and the
top-level modules; never the interfaces cli/ and tui/ (seqgan_music/layers.py), nor typer, rich or
textual.
"""
