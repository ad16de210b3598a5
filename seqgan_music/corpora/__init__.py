"""Corpora: read a source (MIDI folder, music21 folk collections, text file, oracle, toy grammar),
turn it into token sequences with an Encoding, split it by tune and save it as a Corpus.

May import numpy, mido, pretty_midi, music21, torch (oracle only) and seqgan_music.{errors,
progress, paths, atomic, models, export}; never typer, rich or textual.
"""
