"""Export: melodies to files musicians use (MIDI now; ABC, WAV and MusicXML with composing).

May import numpy, pretty_midi, mido, music21 and seqgan_music.{corpora.melody, atomic, errors}.
"""
