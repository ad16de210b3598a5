"""User-facing errors: one line that says what is wrong and what to do.

The CLI prints these without a traceback and exits non-zero; any other exception is a bug.
"""


class SeqganError(Exception):
    """A problem with the user's input or environment, explained in one line."""


class SkippedInput(SeqganError):
    """One input (a file, a tune) cannot be used; a build skips it and lists the reason."""


class DamagedFileError(SeqganError):
    """A file the project wrote itself (a corpus's, a run's, a packed model's) cannot be used as it is.

    The message names the file, what is wrong with it and what to do; `reason` alone is the short
    form a listing shows beside the item's name.
    """

    def __init__(self, path: object, reason: str, remedy: str) -> None:
        super().__init__(f"{path} is damaged ({reason}): {remedy}")
        self.path, self.reason, self.remedy = path, reason, remedy
