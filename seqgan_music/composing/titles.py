"""Readable tune titles in the folk manner ("The Windy Harbour", a jig), the same for the same seed."""

from __future__ import annotations

import random
import re

_ADJECTIVES = (
    "Windy", "Green", "Silver", "Crooked", "Merry", "Lonely", "Rolling", "Golden", "Stony", "Misty",
    "Wild", "Old", "Humours of the", "Bonny", "Blackthorn", "Morning", "Low", "High", "Far", "Bold",
    "Hidden", "Frosty", "Sunny", "Wandering", "Drowsy", "Salty", "Kind", "Rambling", "Quiet", "Lark's",
)
_NOUNS = (
    "Harbour", "Meadow", "Piper", "Fiddler", "Hill", "Ferry", "Boreen", "Mill", "Lark", "Shepherd",
    "Road", "Glen", "Weaver", "Bridge", "Strand", "Orchard", "Tailor", "Well", "Heather", "Sailor",
    "Market", "Lantern", "Ploughman", "River", "Kitchen", "Castle", "Harvest", "Island", "Drover", "Thorn",
)
_FORMS = {"6/8": "jig", "9/8": "slip jig", "12/8": "slide", "3/4": "waltz", "2/4": "polka", "2/2": "reel",
          "4/4": "reel", "3/8": "jig"}


def tune_title(seed: int) -> str:
    """'The Windy Harbour': one of 900 titles, chosen by the seed."""
    chooser = random.Random(f"title-{seed}")
    return f"The {chooser.choice(_ADJECTIVES)} {chooser.choice(_NOUNS)}"


def tune_form(meter: str) -> str:
    """The dance a folk musician would call a tune in this meter ('tune' when there is none)."""
    return _FORMS.get(meter, "tune")


def file_stem(index: int, seed: int, title: str) -> str:
    """'03-s44-the-windy-harbour': ordered as composed, unique by seed, readable."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return f"{index:02d}-s{seed}-{slug}"
