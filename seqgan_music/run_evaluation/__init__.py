"""Run-level evaluation: a trained run's samples scored with evaluation/'s metrics against real
held-out data and cached in its folder (runs.py, units.py), runs compared side by side with p-values
(comparison.py), and quality against diversity across temperatures (sweep.py).

Sits above training because it loads trained runs; may import seqgan_music.{training, evaluation,
export, corpora, models} and the top-level modules; never composing/ (a peer), experiments/ or the
interfaces (seqgan_music/layers.py), nor typer, rich or textual.
"""
