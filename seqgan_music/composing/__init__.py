"""Composing: a trained generator (a run, a packed model, or the shipped default) turned into finished
tunes with a key, a meter, a primer, optional chords and their provenance, written in every format.

May import torch, numpy and seqgan_music.{training, corpora, models, evaluation, export} and the
top-level modules (atomic, errors, progress, ...); never run_evaluation/ (a peer), experiments/ or
the interfaces (seqgan_music/layers.py), nor typer, rich or textual.
"""
