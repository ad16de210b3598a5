"""Rich renderings of corpora: the list table, the summary, histograms and decoded examples,
of windows and of whole tunes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from rich import box
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.measure import Measurement
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from seqgan_music.corpora.corpus import Corpus
from seqgan_music.corpora.encodings import BAR, HOLD, REST
from seqgan_music.corpora.split import SPLITS
from seqgan_music.corpora.tunes import MAX_TUNE_BARS, Tune, TunePart, parse_tune_symbols, whole_tune_counts
from seqgan_music.corpora.vocabulary import END, PAD
from seqgan_music.formatting import describe_value
from seqgan_music.project_files import DamagedItem

PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_BAR_WIDTH = 40


# Text columns shown beside the name, most first: narrower terminals leave out the last ones.
_CORPUS_TEXT_COLUMNS = (("source", "encoding"), ("encoding",), ())
_CORPUS_COUNT_COLUMNS = ("tunes", "train", "valid", "test", "vocab", "skipped")
_NAME_FOLDED = 12  # the name may fold down to this many characters a line before a column is left out


class CorporaTable:
    """The built corpora, one row each, laid out for the width it is drawn at: counts are never
    cut; the name folds, and the source and then the encoding columns are left out when needed."""

    def __init__(self, manifests: Sequence[dict]) -> None:
        self.manifests = list(manifests)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        names = [str(manifest.get("name", "?")) for manifest in self.manifests]
        foldable = max(0, max(map(cell_len, ["name", *names])) - _NAME_FOLDED)
        for text_columns in _CORPUS_TEXT_COLUMNS:
            table = self._table(text_columns)
            unconstrained = Measurement.get(console, options.update_width(10_000), table).maximum
            if unconstrained - foldable <= options.max_width:
                break
        yield table

    def _table(self, text_columns: Sequence[str]) -> Table:
        table = Table(title="Corpora (train/valid/test: windows per split)", title_justify="left",
                      box=box.SIMPLE_HEAD, collapse_padding=True, pad_edge=False)
        table.add_column("name", style="bold", overflow="fold")
        for column in text_columns:
            table.add_column(column, no_wrap=True)
        for column in _CORPUS_COUNT_COLUMNS:
            table.add_column(column, justify="right", no_wrap=True)
        for manifest in self.manifests:
            counts = manifest.get("counts", {})
            windows = counts.get("windows", {})
            encoding = manifest.get("encoding", {})
            text = {"source": manifest.get("source", {}).get("kind", "?"),
                    "encoding": f"{encoding.get('name', '?')}/{encoding.get('length', '?')}"}
            table.add_row(
                manifest.get("name", "?"),
                *(text[column] for column in text_columns),
                str(counts.get("tunes", "-")),
                *(str(windows.get(split, 0)) for split in ("train", "valid", "test")),
                str(counts.get("vocabulary", "")),
                str(len(manifest.get("skipped", []))),
            )
        return table


def damaged_rows(items: Sequence[DamagedItem]) -> Group:
    """The corpora or runs a listing cannot read, one row each: the name and why, on one line."""
    return Group(*(Text.assemble((item.name, "bold"), "  ", ("damaged: ", "red"), item.reason,
                                 no_wrap=True, overflow="ellipsis") for item in items))


def corpus_summary(corpus: Corpus) -> Panel:
    manifest = corpus.manifest
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("source", describe_value(manifest.get("source", {})))
    table.add_row("encoding", describe_value(manifest.get("encoding", {})))
    table.add_row("split", describe_value(manifest.get("split", {})))
    for key, value in manifest.get("counts", {}).items():
        if key == "whole_tunes":  # a panel of its own: whole_tunes_panel
            continue
        table.add_row(key.replace("_", " "), describe_value(value) if isinstance(value, dict) else str(value))
    table.add_row("content hash", str(manifest.get("content_hash", ""))[:16])
    table.add_row("built", f"{manifest.get('built', '')} in {manifest.get('build_seconds', '?')} s")
    if corpus.folder is not None:
        table.add_row("folder", str(corpus.folder))
    return Panel(table, title=f"corpus [bold]{corpus.name}[/]", title_align="left")


def skipped_panel(skipped: Sequence[dict], limit: int = 10) -> Panel | None:
    if not skipped:
        return None
    lines = [Text(f"{s['path']}: {s['reason']}") for s in skipped[:limit]]
    if len(skipped) > limit:
        lines.append(Text(f"... and {len(skipped) - limit} more (all listed in manifest.json)", style="dim"))
    return Panel(Group(*lines), title=f"skipped inputs ({len(skipped)})", title_align="left", border_style="yellow")


def pitch_class_panel(histogram: np.ndarray) -> Panel:
    total = max(int(histogram.sum()), 1)
    peak = max(int(histogram.max()), 1)
    lines = []
    for name, count in zip(PITCH_CLASSES, histogram):
        bar = "█" * int(round(_BAR_WIDTH * int(count) / peak))
        lines.append(Text(f"{name:<3}{bar:<{_BAR_WIDTH}} {100 * int(count) / total:5.1f}%"))
    return Panel(Group(*lines), title="pitch classes (train)", title_align="left")


def token_line(symbols: Sequence[str]) -> str:
    """Compact view of music tokens: '|' bar line, '-' hold, '.' rest, pitch names as written."""
    shown = {BAR: "|", HOLD: "-", REST: ".", PAD: "", END: "<end>"}
    return " ".join(s for s in (shown.get(t, t) for t in symbols) if s)


def examples_panel(corpus: Corpus, count: int, split: str = "train") -> Panel:
    windows = corpus.splits[split]
    picks = np.linspace(0, len(windows) - 1, num=min(count, len(windows)), dtype=int) if len(windows) else []
    lines: list[Text] = []
    for index in picks:
        ids = windows[index]
        if corpus.is_music:
            tune = int(corpus.tune_of_window[split][index]) if split in corpus.tune_of_window else None
            info = corpus.tunes[tune] if tune is not None and corpus.tunes else {}
            key = (info.get("key") or {}).get("name", "?")
            lines.append(Text(f"{info.get('title') or info.get('source', '')}  [{info.get('meter', '?')}, {key}]", style="bold"))
            lines.append(Text(token_line(corpus.symbols(ids))))
        else:
            lines.append(Text(str(corpus.decode(ids))))
    return Panel(Group(*lines), title=f"examples ({split})", title_align="left")


_LENGTH_BIN = 8  # notated bars per row of the tune-length histogram
_TOP_FORMS = 8


def whole_tunes_panel(corpus: Corpus) -> Panel:
    """The corpus's whole tunes: how many per split, their notated length (range, median and a
    histogram), types, modes, the most common forms, and how many were cut to `MAX_TUNE_BARS`."""
    records = [record for record in corpus.tunes if "notated_bars" in record]
    if not corpus.tune_sequences or not records:
        note = ("none: built before whole tunes existed, rebuild it to keep them" if corpus.encoding.name == "grid16"
                else f"none: only grid16 corpora keep whole tunes, this one is {corpus.encoding.name}")
        return Panel(Text(note), title="whole tunes", title_align="left")
    summary = whole_tune_counts(records)
    bars = summary["notated_bars"]
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    per_split = " / ".join(str(len(corpus.tune_sequences.get(split, []))) for split in SPLITS)
    table.add_row("tunes", f"{summary['tunes']} (train/valid/test {per_split})")
    table.add_row("notated bars", f"min {bars['min']}, median {bars['median']}, max {bars['max']}; "
                                  f"{summary['cut']} cut at {MAX_TUNE_BARS} bars (at a part boundary)")
    table.add_row("", _length_histogram([record["notated_bars"] for record in records]))
    table.add_row("types", _counted(summary["types"]))
    table.add_row("modes", _counted(summary["modes"]))
    forms = list(summary["forms"].items())
    others = forms[_TOP_FORMS:]
    rest = f"; {len(others)} other forms ({sum(c for _, c in others)} tunes)" if others else ""
    table.add_row("forms", _counted(dict(forms[:_TOP_FORMS])) + rest)
    return Panel(table, title="whole tunes (notated: repeats as signs)", title_align="left")


def _counted(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in counts.items())


def _length_histogram(lengths: Sequence[int]) -> Text:
    """Tunes per `_LENGTH_BIN` notated bars, one row per bin up to the longest."""
    bins = [0] * (max(1, (max(lengths) + _LENGTH_BIN - 1) // _LENGTH_BIN))
    for length in lengths:
        bins[max(0, length - 1) // _LENGTH_BIN] += 1
    peak = max(bins) or 1
    rows = []
    for index, count in enumerate(bins):
        label = f"{index * _LENGTH_BIN + 1}-{(index + 1) * _LENGTH_BIN}"
        rows.append(f"{label:>5} {'█' * round(_BAR_WIDTH * count / peak):<{_BAR_WIDTH}} {count}")
    return Text("\n".join(rows))


def tune_examples_panel(corpus: Corpus, count: int) -> Panel:
    """The first `count` whole tunes (in tune order), each as its header and one line per part:
    its bars between `|`, with `|:` `:|` for a repeat and `|1` `:|2` for its endings."""
    located = sorted((int(owner), split, index) for split, owners in corpus.tune_of_sequence.items()
                     for index, owner in enumerate(owners))
    lines: list[Text] = []
    for owner, split, index in located[:count]:
        info = corpus.tunes[owner] if owner < len(corpus.tunes) else {}
        tune = parse_tune_symbols(corpus.symbols(corpus.tune_sequences[split][index]), info.get("meter", "4/4"))
        key = (info.get("key") or {}).get("name", "?")
        lines.append(Text(f"{info.get('title') or info.get('source', '')}  [{tune.header.meter}, {key}, "
                          f"{tune.header.type}, {tune.form_letters()}, {len(tune.notated_bars())} bars]", style="bold"))
        lines.append(Text(" ".join(tune.header.symbols()), style="dim"))
        lines.extend(Text(line) for line in tune_lines(tune))
    return Panel(Group(*lines), title=f"whole tunes (first {len(located[:count])})", title_align="left")


def tune_lines(tune: Tune) -> list[str]:
    """One line per part: the pickup before the first, bars as `compact_steps`, repeat signs."""
    lines = [_part_line(part) for part in tune.parts]
    if tune.pickup:
        first = lines[0] if lines else ""
        lines[:1] = [f"{compact_steps(tune.pickup)} {first}".rstrip()]
    return lines


def _part_line(part: TunePart) -> str:
    body = " | ".join(compact_steps(bar) for bar in part.bars)
    if part.first_ending or part.second_ending:
        first = " | ".join(compact_steps(bar) for bar in part.first_ending)
        second = " | ".join(compact_steps(bar) for bar in part.second_ending)
        return f"|: {body} |1 {first} :|2 {second} |"
    return f"|: {body} :|" if part.repeated else f"| {body} |"


def compact_steps(steps: Sequence[str]) -> str:
    """Step tokens, short: each pitch with a '-' per sixteenth it is held, '.' per rest step, a
    bar that opens with a note held over its bar line with '-' (`D5- E5- F#5---` is an eighth,
    an eighth and a quarter note)."""
    words: list[str] = []
    for step in steps:
        if step == HOLD:
            if words:
                words[-1] += "-"
            else:
                words.append("-")
        elif step == REST:
            if words and set(words[-1]) == {"."}:
                words[-1] += "."
            else:
                words.append(".")
        else:
            words.append(step)
    return " ".join(words)
