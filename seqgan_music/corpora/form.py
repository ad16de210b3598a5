"""The form of a folk tune: its bars, its parts and their repeats, its tune type and its mode.

A folk tune is two or more strains of (usually) 8 bars, each played twice (AABB), ending on the
tonic. This module reads that shape from a `Melody`, so that corpora can keep whole tunes with
their parts, generators can be conditioned on type and mode, and the form metrics
(`seqgan_music.evaluation.form`) can compare generated tunes with real ones. Pure Python: no
torch, and nothing here reads files.

The unit is the bar as `bar_contents` gives it: the notes that start in the bar, each as its onset
in sixteenths from the bar line and its MIDI pitch. Two bars are equal when those tuples are equal,
so a repeat must have the same rhythm and pitches; durations and ties across the bar line do not
count (the next onset fixes most of them).

`tune_form` finds the parts of a tune whose repeats are played out (Nottingham's MIDI files, or
any MIDI export): see `detect_form` for the rule.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from string import ascii_uppercase

from seqgan_music.corpora.keys import estimate_key, key_scores
from seqgan_music.corpora.melody import Key, Melody, meter_length_in_beats

Bar = tuple[tuple[int, int], ...]  # (onset in sixteenths from the bar line, MIDI pitch) per note
SIXTEENTHS_PER_BEAT = 4
PART_LENGTHS = (16, 8, 4)  # candidate strain lengths in bars, longest first
SECTION_COST = 2  # bars of repeats a section must explain to pay for itself: longer strains are simpler
MIN_REPEATED_SHARE = 0.25  # below this share of bars in repeated parts, a tune's form is "free"
FREE = "free"
FOLK_MODES = ("major", "minor", "dorian", "mixolydian")
_MODE_PROFILE = {"major": "major", "mixolydian": "major", "minor": "minor", "dorian": "minor"}
_MODE_ABOVE_MAJOR = {"major": 0, "dorian": 2, "mixolydian": 7, "minor": 9}  # semitones above the major tonic
FINAL_NOTE_BONUS = 0.3  # profile correlations lie in -1..1; a tune's final note outweighs a small difference
_EPSILON = 1e-6


# --- bars ------------------------------------------------------------------------------------


def bar_lines(melody: Melody) -> list[float]:
    """The beat of every bar line of `melody`, a pickup (anacrusis) bar first when it has one.

    The lines are the melody's own `bars` when it has them, else a grid of the meter's bar length
    from beat 0. Notes before the first line form a pickup bar, which is given a full bar's
    length (its line lies one bar before the first line), so its notes sit at the end of the
    bar as a musician counts them.
    """
    if not melody.notes:
        return []
    bar_length = meter_length_in_beats(melody.meter)
    lines = sorted(melody.bars)
    if not lines:
        count = max(1, int((melody.end - _EPSILON) // bar_length) + 1)
        lines = [index * bar_length for index in range(count)]
    first_onset = min(note.start for note in melody.notes)
    while first_onset < lines[0] - _EPSILON:
        lines.insert(0, lines[0] - bar_length)
    return lines


def bar_contents(melody: Melody) -> list[Bar]:
    """Per bar (see `bar_lines`), the notes that start in it as (onset in sixteenths, pitch).

    A first bar shorter than the meter (a pickup written as a short measure) is counted from
    where a full bar would start, so its onsets are the same as those of a pickup written as a
    full bar with leading rests, as Nottingham's MIDI files write it.
    """
    lines = bar_lines(melody)
    if not lines:
        return []
    starts = list(lines)
    bar_length = meter_length_in_beats(melody.meter)
    if len(lines) > 1 and lines[1] - lines[0] < bar_length - _EPSILON:
        starts[0] = lines[1] - bar_length
    contents: list[list[tuple[int, int]]] = [[] for _ in lines]
    index = 0
    for note in sorted(melody.notes, key=lambda n: (n.start, n.pitch)):
        while index + 1 < len(lines) and note.start >= lines[index + 1] - _EPSILON:
            index += 1
        onset = round((note.start - starts[index]) * SIXTEENTHS_PER_BEAT)
        contents[index].append((onset, note.pitch))
    return [tuple(bar) for bar in contents]


def first_full_bar(bars: Sequence[Bar]) -> int:
    """1 when the first bar is a pickup (empty, or its first note comes after the bar line), else 0."""
    return 1 if bars and (not bars[0] or bars[0][0][0] > 0) else 0


# --- form ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """One played section of a tune: bars `start` to `end` (indices into `bar_contents`).

    `repeat_of` is the index (in `TuneForm.parts`) of the earlier part this one plays again, or
    None where the part is played for the first time; `differing` lists the positions (0 = the
    part's first bar) where the repeat's bars differ from that part's: endings and variations.
    """

    label: str
    start: int
    end: int
    repeat_of: int | None = None
    differing: tuple[int, ...] = ()

    @property
    def bars(self) -> int:
        return self.end - self.start

    @property
    def second_ending(self) -> int:
        """How many closing bars of this repeat are written as a second ending (0 when none): the
        bars from its first differing bar in the part's second half to its end. Differences in
        the first half are a player's variations, not notation."""
        closing = [position for position in self.differing if position >= self.bars // 2]
        return self.bars - closing[0] if closing else 0


@dataclass(frozen=True)
class TuneForm:
    """A tune's form: its parts as played, the form as a musician names it, and one notated pass.

    `form` is the letters of one pass through the parts ("AABB", "AABA", "ABAC"), or "free" when
    too little repeats to tell parts apart (see `detect_form`); `passes` is how often the whole
    form is played ("AABB" played twice through is form "AABB", passes 2). `parts` cover every
    bar after the pickup, in playing order, all passes. `notated_bars` is one pass as a score
    writes it (repeats not played out): the pickup, each part once, the second ending of a
    repeat that has one, and parts that return later (AABA's last A), as bar indices into
    `bar_contents`.
    """

    bars: int
    pickup: bool
    parts: tuple[Part, ...]
    form: str
    passes: int
    notated_bars: tuple[int, ...]

    @property
    def part_lengths(self) -> dict[str, int]:
        """Bars of each distinct part, by label, in order of appearance (empty when free)."""
        if self.form == FREE:
            return {}
        return {part.label: part.bars for part in self.parts if part.repeat_of is None}

    def to_dict(self) -> dict:
        """Plain JSON-ready values."""
        return {"bars": self.bars, "pickup": self.pickup, "form": self.form, "passes": self.passes,
                "parts": [{"label": p.label, "start": p.start, "end": p.end, "repeat_of": p.repeat_of,
                           "differing": list(p.differing)} for p in self.parts],
                "notated_bars": list(self.notated_bars)}


def tune_form(melody: Melody) -> TuneForm:
    """The form of a played-out tune: `detect_form` on its `bar_contents`."""
    return detect_form(bar_contents(melody))


def detect_form(bars: Sequence[Bar]) -> TuneForm:
    """Find the parts and repeats of a tune whose repeats are played out.

    The rule, after a pickup bar (`first_full_bar`):
    1. For each strain length L in `PART_LENGTHS`, cut the bars into sections of L bars from the
       first full bar (a remainder shorter than L/2 closes the last section, a longer one is a
       short last section compared with the start of earlier ones). Each section takes the label
       of the first earlier section it matches, else a new label. Two sections match when all
       but `allowed_differences(L)` = max(1, L // 4) of their bars are equal and not empty (so
       first and second endings, one or two closing bars, and small variations are allowed).
       A section right after new material also repeats it when their first halves are equal
       (L >= 8): the strain played again with a long second ending ("a b", then "a c"). Only
       new material can be played again so: in AABB, a B that opens like A stays B.
    2. The bars of the sections that repeat an earlier one count as repeated, and the L with the
       most repeated bars less `SECTION_COST` per section wins (the longest on a tie): an 8-bar
       strain "a a'" played twice also repeats its 4-bar phrases, but it is the 8-bar strain a
       musician names, while AABB played twice through is read as 8-bar parts, not 16-bar AA BB.
    3. Runs of new sections repeated as a whole (B C B C) are one longer part played twice, so
       a tune of 8-bar A and 16-bar B parts reads AABB (unless the run is the whole tune: step 4).
    4. When the whole sequence of labels is two or more passes of one form of at least two
       parts (AABBAABB), the form is that pass and `passes` counts them.
    With fewer than `MIN_REPEATED_SHARE` of the bars in repeated sections the form is "free":
    one part holding every bar after the pickup.
    """
    first = first_full_bar(bars)
    body = list(bars[first:])
    chosen = _choose_sections(body)
    if chosen is None:
        parts = (Part("A", first, len(bars)),) if len(bars) > first else ()
        return TuneForm(len(bars), bool(first), parts, FREE, 1, tuple(range(len(bars))))
    sections = _merge_repeated_runs(body, chosen)
    parts = tuple(Part(label, first + start, first + end, origin, differing)
                  for label, (start, end, origin, differing) in zip(_letters(sections), sections))
    pattern, passes = _passes([part.label for part in parts])
    one_pass = parts[:len(pattern)]
    notated = list(range(first))
    for index, part in enumerate(one_pass):
        if index > 0 and part.repeat_of == index - 1:
            notated.extend(range(part.end - part.second_ending, part.end))
        else:
            notated.extend(range(part.start, part.end))
    return TuneForm(len(bars), bool(first), parts, "".join(pattern), passes, tuple(notated))


def allowed_differences(length: int) -> int:
    """How many bars two sections of `length` bars may differ in and still be one part repeated."""
    return max(1, length // 4)


def differing_bars(section: Sequence[Bar], original: Sequence[Bar]) -> tuple[int, ...] | None:
    """Positions where `section` differs from `original`, or None when they do not match.

    The two are compared over the shorter one's length (a closing tail bar, or a short last
    section against the start of a whole one); they match when at most `allowed_differences` of
    those bars differ. An empty bar never counts as equal: silence is not a repeat.
    """
    compared = min(len(section), len(original))
    differing = _differences(section, original)
    return differing if compared and len(differing) <= allowed_differences(compared) else None


def _differences(section: Sequence[Bar], original: Sequence[Bar]) -> tuple[int, ...]:
    """Positions, over the shorter length, where the bars differ or are empty."""
    compared = min(len(section), len(original))
    return tuple(i for i in range(compared) if not section[i] or section[i] != original[i])


def is_second_playing(section: Sequence[Bar], original: Sequence[Bar]) -> bool:
    """Whether `section` (at least 8 bars) plays `original` again with its whole second half as a
    second ending: the first half equal bar for bar, none of it empty ("a b" then "a c")."""
    half = len(section) // 2
    return len(section) >= 8 and len(section) == len(original) and all(
        section[i] and section[i] == original[i] for i in range(half))


# A section while the form is found: its (start, end) in the body, the index of the section it
# repeats (None: new material) and the positions where it differs from that section.
_Section = tuple[int, int, int | None, tuple[int, ...]]


def _choose_sections(body: list[Bar]) -> list[_Section] | None:
    """Steps 1 and 2 of `detect_form`: the labelled sections of the chosen strain length, or None."""
    best: tuple[float, int, list[_Section]] | None = None
    for length in PART_LENGTHS:
        if len(body) < 2 * length:
            continue
        sections = _label(body, _cut(len(body), length))
        repeated = sum(end - start for start, end, origin, _ in sections if origin is not None)
        score = repeated - SECTION_COST * len(sections)
        if repeated and (best is None or score > best[0]):
            best = (score, repeated, sections)
    if best is None or best[1] < MIN_REPEATED_SHARE * len(body):
        return None
    return best[2]


def _cut(count: int, length: int) -> list[tuple[int, int]]:
    """Sections of `length` bars over `count` bars; a remainder under length/2 joins the last."""
    cuts = [(start, min(start + length, count)) for start in range(0, count, length)]
    if len(cuts) > 1 and cuts[-1][1] - cuts[-1][0] < length / 2:
        cuts[-2:] = [(cuts[-2][0], count)]
    return cuts


def _label(body: list[Bar], cuts: list[tuple[int, int]]) -> list[_Section]:
    """Each section with the earlier section it repeats (its origin), if any: the first earlier
    section it matches, else the section just before when it is new material that this one
    plays again with a long second ending (`is_second_playing`)."""
    sections: list[_Section] = []
    for start, end in cuts:
        match: tuple[int | None, tuple[int, ...]] = (None, ())
        for index, (earlier_start, earlier_end, _, _) in enumerate(sections):
            differing = differing_bars(body[start:end], body[earlier_start:earlier_end])
            if differing is not None:
                match = (index, differing)
                break
        if match[0] is None and sections and sections[-1][2] is None:
            previous = body[sections[-1][0]:sections[-1][1]]
            if is_second_playing(body[start:end], previous):
                match = (len(sections) - 1, _differences(body[start:end], previous))
        sections.append((start, end, *match))
    return sections


def _merge_repeated_runs(body: list[Bar], sections: list[_Section]) -> list[_Section]:
    """Step 3 of `detect_form`: a run of two or three new sections played again becomes one part.

    Origins are renumbered to the merged parts; a later section that replays a merged run
    whole is merged the same way, one that replays only a piece of it counts as new material.
    """
    merged: list[_Section] = []
    owner: dict[int, tuple[int, int]] = {}  # section index -> (merged part, position in its run)
    sizes: list[int] = []  # sections per merged part

    def add(first: int, size: int, origin: int | None) -> None:
        start, end = sections[first][0], sections[first + size - 1][1]
        differing: tuple[int, ...] = ()
        if origin is not None:
            original = merged[origin]
            differing = _differences(body[start:end], body[original[0]:original[1]])
        for position in range(size):
            owner[first + position] = (len(merged), position)
        merged.append((start, end, origin, differing))
        sizes.append(size)

    index = 0
    while index < len(sections):
        run = _repeated_run(sections, index)
        if run:
            add(index, run, None)
            add(index + run, run, len(merged) - 1)
            index += 2 * run
            continue
        origin = sections[index][2]
        target, position = owner[origin] if origin is not None else (None, 0)
        if target is not None and position == 0 and sizes[target] > 1 \
                and _replays(sections, owner, index, target, sizes[target]):
            add(index, sizes[target], target)
            index += sizes[target]
            continue
        add(index, 1, target if target is not None and position == 0 and sizes[target] == 1 else None)
        index += 1
    return merged


def _repeated_run(sections: list[_Section], index: int) -> int:
    """The length (2 or 3) of a run of new sections at `index` that the next sections replay, else 0.

    A run that is the whole tune played twice (AB AB) is left to `_passes`: two parts, two passes.
    """
    for run in (2, 3):
        if index + 2 * run > len(sections) or (index == 0 and 2 * run == len(sections)):
            break
        new = all(sections[index + k][2] is None for k in range(run))
        again = all(sections[index + run + k][2] == index + k for k in range(run))
        if new and again:
            return run
    return 0


def _replays(sections: list[_Section], owner: dict[int, tuple[int, int]], index: int, target: int,
             size: int) -> bool:
    """Whether the `size` sections from `index` replay merged part `target` section by section."""
    if index + size > len(sections):
        return False
    origins = [sections[index + k][2] for k in range(size)]
    return all(origin is not None and owner.get(origin) == (target, k) for k, origin in enumerate(origins))


def _letters(sections: list[_Section]) -> list[str]:
    """A letter per section: a new one for new material, its origin's for a repeat."""
    labels: list[str] = []
    for _, _, origin, _ in sections:
        if origin is None:
            count = len(set(labels))
            labels.append(ascii_uppercase[count] if count < len(ascii_uppercase) else f"P{count}")
        else:
            labels.append(labels[origin])
    return labels


def _passes(labels: list[str]) -> tuple[list[str], int]:
    """Step 4 of `detect_form`: the shortest pass of at least two parts that repeats to `labels`."""
    for size in range(2, len(labels) // 2 + 1):
        if len(labels) % size == 0 and labels == labels[:size] * (len(labels) // size):
            return labels[:size], len(labels) // size
    return labels, 1


# --- tune type -------------------------------------------------------------------------------

TUNE_TYPES = ("jig", "reel", "hornpipe", "polka", "waltz", "slip-jig", "march", "strathspey", "mazurka",
              "schottische", "slide", "air", "morris", "carol", "country-dance", "unknown")
# Nottingham's file names: the collection's prefix, then (for reels) a letter range, then a number.
_NOTTINGHAM_NAME = re.compile(r"^(jigs|reels|hpps|waltzes|slip|morris|xmas|playford|ashover)[a-z-]*\d+$")
_NOTTINGHAM_TYPES = {"jigs": "jig", "reels": "reel", "hpps": "hornpipe", "waltzes": "waltz", "slip": "slip-jig",
                     "morris": "morris", "xmas": "carol", "playford": "country-dance", "ashover": "unknown"}
# Words in titles, paths and ABC `R:` fields, in the order they are tried (slip jig before jig).
_TYPE_WORDS = (
    ("slip-jig", r"(slip|hop)[\s_-]*jigs?"),
    ("jig", r"jigs?"),
    ("reel", r"reels?"),
    ("hornpipe", r"hornpipes?|clogs?"),
    ("polka", r"polkas?"),
    ("waltz", r"waltz(es)?|valses?"),
    ("strathspey", r"strathspeys?|flings?"),
    ("march", r"march(es)?"),
    ("mazurka", r"mazurkas?"),
    ("schottische", r"schottisc?he?s?|barn[\s_-]*dances?"),
    ("slide", r"slides?"),
    ("air", r"airs?"),
    ("morris", r"morris"),
    ("carol", r"carols?"),
    ("country-dance", r"country[\s_-]*dances?"),
)
_TYPE_PATTERNS = tuple((kind, re.compile(rf"(?<![a-z])(?:{words})(?![a-z])")) for kind, words in _TYPE_WORDS)
_FILE_SUFFIX = re.compile(r"\.(midi?|abc|xml|musicxml|mxl|krn|json)$")


def tune_type_from_name(path_or_title: str) -> str:
    """The tune type (one of `TUNE_TYPES`) a file name, path or title names, else "unknown".

    Nottingham's file names name their collection (jigs12.mid -> jig, hpps3.mid -> hornpipe,
    slip4.mid -> slip-jig, reelsa-c7.mid -> reel, xmas2.mid -> carol, playford5.mid ->
    country-dance; the Ashover manuscript mixes types: unknown). Other names are searched for a
    type word, the file name before its folders ("The Kesh Jig", "reels/silver-spear.abc").
    """
    text = path_or_title.strip().lower().replace("\\", "/")
    name = _FILE_SUFFIX.sub("", text.rsplit("/", 1)[-1])
    nottingham = _NOTTINGHAM_NAME.match(name)
    if nottingham:
        return _NOTTINGHAM_TYPES[nottingham.group(1)]
    return _type_from_words(name) if _type_from_words(name) != "unknown" else _type_from_words(text)


def tune_type_from_rhythm(rhythm: str) -> str:
    """An ABC `R:` field as one of `TUNE_TYPES`: "double jig" -> jig, "slipjig" -> slip-jig,
    "Hornpipe" and "clog" -> hornpipe, "highland fling" -> strathspey; "unknown" otherwise."""
    return _type_from_words(rhythm.strip().lower())


def _type_from_words(text: str) -> str:
    return next((kind for kind, pattern in _TYPE_PATTERNS if pattern.search(text)), "unknown")


# --- mode ------------------------------------------------------------------------------------


def mode_of(melody: Melody) -> str:
    """The tune's mode, one of `FOLK_MODES`: its `folk_key`'s mode."""
    return folk_key(melody).mode


def folk_key(melody: Melody) -> Key:
    """The tune's key among the folk modes (major, minor, dorian, mixolydian).

    A stored dorian or mixolydian key is kept: a source only names those on purpose (ABC's
    `K:Ador`). Otherwise the key (the stored one, else `estimate_key` of the notes) is kept when
    the tune ends on its tonic, or ends on none of the four folk tonics of its signature. When
    it ends on another of them, the stored major or minor is only a signature (a MIDI key
    signature can only say major or minor, and collections write D mixolydian as "D major" or
    "G major"): the mode is chosen among the four of that signature by `key_scores` (the major
    profile for major and mixolydian, the minor one for minor and dorian) plus
    `FINAL_NOTE_BONUS` for the mode whose tonic is the final note, as folk tunes end on their
    tonic. Without notes: the stored key if it is a folk mode, else C major.
    """
    if not melody.notes:
        return melody.key if melody.key and melody.key.mode in FOLK_MODES else Key(0, "major", "estimated")
    stored = melody.key
    if stored is not None and stored.mode in ("dorian", "mixolydian"):
        return stored
    base = stored if stored is not None else estimate_key(melody.notes)
    final = max(melody.notes, key=lambda note: note.start).pitch % 12
    major_tonic = (base.fifths * 7) % 12
    tonics = {mode: (major_tonic + _MODE_ABOVE_MAJOR[mode]) % 12 for mode in FOLK_MODES}
    if base.mode in FOLK_MODES and (base.tonic_pitch_class == final or final not in tonics.values()):
        return base
    scores = key_scores(melody.notes)

    def score(mode: str) -> float:
        fit = scores.get((tonics[mode], _MODE_PROFILE[mode]), 0.0)
        return fit + (FINAL_NOTE_BONUS if tonics[mode] == final else 0.0)

    return Key(base.fifths, max(FOLK_MODES, key=score), "estimated")
