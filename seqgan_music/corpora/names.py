"""Names from outside (file names, MIDI track names) made safe to store as UTF-8 and to print.

A Linux file name is any bytes: Python hands the ones that are not UTF-8 over as lone surrogates,
which JSON files and terminals cannot encode, and a name (or a track name in a MIDI file) may hold
an escape sequence that a terminal would run. `printable` writes both as visible escapes.
"""

from __future__ import annotations

import unicodedata

# Control and format characters, lone surrogates, and line and paragraph separators.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_SURROGATE_ESCAPES = range(0xDC80, 0xDD00)  # os.fsdecode's stand-ins for the bytes 0x80-0xFF


def printable(text: str) -> str:
    """`text` with each undecodable byte as \\xNN and each control character as \\xNN, \\uNNNN or \\UNNNNNNNN.

    A name that is already safe comes back unchanged, so ordinary names keep their form.
    """
    if text.isprintable():
        return text
    return "".join(_escaped(character) for character in text)


def _escaped(character: str) -> str:
    code = ord(character)
    if code in _SURROGATE_ESCAPES:
        return f"\\x{code - 0xDC00:02x}"
    if unicodedata.category(character) not in _UNSAFE_CATEGORIES:
        return character
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
