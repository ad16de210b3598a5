"""Rich renderings of corpora: the list table, the summary, histograms and decoded examples."""

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
from seqgan_music.corpora.vocabulary import END, PAD
from seqgan_music.formatting import describe_value

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


def corpus_summary(corpus: Corpus) -> Panel:
    manifest = corpus.manifest
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("source", describe_value(manifest.get("source", {})))
    table.add_row("encoding", describe_value(manifest.get("encoding", {})))
    table.add_row("split", describe_value(manifest.get("split", {})))
    for key, value in manifest.get("counts", {}).items():
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
