"""Export: melodies to files musicians use, with an optional chord track for a folk lead sheet.

- midi: a standard MIDI file (melody, tempo, meter, key; chords and text events when given)
- abc: ABC notation (chord symbols and N: notes when given)
- musicxml: MusicXML for notation programs, through music21
- wav: audio from our additive synth, or from a SoundFont where fluidsynth is installed
- chords: harmonise a melody with one diatonic triad per bar
- notation: spelling in a key, the sixteenth grid and bars, shared by the written formats
- corpus_windows: a corpus's windows written back as MIDI or text (`corpus export`)

May import numpy, pretty_midi, mido, music21 and seqgan_music.{corpora, models, atomic, errors};
never evaluation/ (a peer), training/ or anything above it (seqgan_music/layers.py), nor typer,
rich or textual.
"""
