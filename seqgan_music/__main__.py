"""`python -m seqgan_music` runs the command-line interface."""

from seqgan_music.cli import main

main()
