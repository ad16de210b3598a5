"""Corpora: read a source (MIDI folder, music21 folk collections, text file, oracle, toy grammar),
turn it into token sequences with an Encoding, split it by tune and save it as a Corpus.

May import numpy, mido, pretty_midi, music21, torch (oracle only) and, of seqgan_music, models/ and
the top-level modules (errors, progress, paths, atomic, project_files); never export/ or anything
above it (seqgan_music/layers.py), nor typer, rich or textual.
"""
