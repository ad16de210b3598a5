"""The Textual app (`seqgan-music tui`): the only layer besides cli/ that may import textual.

May import everything in seqgan_music except cli/, plus textual and rich; the panes call the same
core functions as the CLI and report progress through `progress.Reporter`.
"""
