"""User-facing errors: one line that says what is wrong and what to do.

The CLI prints these without a traceback and exits non-zero; any other exception is a bug.
"""


class SeqganError(Exception):
    """A problem with the user's input or environment, explained in one line."""


class SkippedInput(SeqganError):
    """One input (a file, a tune) cannot be used; a build skips it and lists the reason."""
