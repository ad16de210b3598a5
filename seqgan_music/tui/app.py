"""The app shell: header, one tab per pane, footer, help; `create_app` is its only factory.

Panes are widgets with `TITLE`, `PANE_ID`, `HELP` and `CSS_FILE` class attributes that take the
project folder; adding a screen means adding its class to `PANES`. Each pane keeps its layout in
its own stylesheet beside this module, so the shell loads only the panes it shows (the tests host
one pane alone). The shell keeps every pane up to date with the project folder: a pane that
changes corpora or runs posts `ProjectChanged`, the shell looks at the folder every few seconds
for changes made elsewhere, and each pane's `project_changed` rereads what it shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Protocol

from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane

from seqgan_music import __version__
from seqgan_music.tui.compose import ComposePane
from seqgan_music.tui.corpora import CorporaPane
from seqgan_music.tui.evaluate import EvaluatePane
from seqgan_music.tui.project import WATCH_SECONDS, ProjectChanged, ProjectWatch
from seqgan_music.tui.train import TrainPane


class PaneClass(Protocol):
    """What the shell needs from a pane class."""

    TITLE: ClassVar[str]
    PANE_ID: ClassVar[str]
    HELP: ClassVar[str]
    CSS_FILE: ClassVar[str]  # a .tcss file in this package
    FOCUS: ClassVar[str]  # the selector of the widget that has the focus when the pane is shown
    # A pane may also define `stop_before_quit() -> bool`: True when it must finish work before the
    # app closes (it then calls `app.exit()` itself).

    def __call__(self, home: Path, *, id: str | None = None) -> Widget: ...


class Pane(Protocol):
    """What the shell needs from a pane."""

    def project_changed(self, change: ProjectChanged) -> None:
        """Reread the corpora and/or runs that `change` names (all of them when it is forced)."""


class HelpScreen(ModalScreen[None]):
    """Every key binding and what each pane does, built from the live app so it never drifts."""

    BINDINGS = [Binding("escape,q,question_mark,f1", "dismiss", "Close help", key_display="esc")]

    def __init__(self, sections: list[tuple[str, str, list[tuple[str, str]]]]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        with Vertical(id="help-dialog"):
            with VerticalScroll(id="help-body"):
                for title, text, keys in self.sections:
                    yield Static(Text(title, style="bold"), classes="help-title")
                    if text:
                        yield Static(Text(text), classes="help-text")
                    table = Table.grid(padding=(0, 2))
                    table.add_column(style="bold cyan", no_wrap=True)
                    table.add_column()
                    for key, description in keys:
                        table.add_row(key, description)
                    yield Static(table, classes="help-keys")
            yield Static(Text("esc, q or ? closes this help", style="dim"), id="help-hint")

    def on_mount(self) -> None:
        self.query_one("#help-dialog").border_title = "help"

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)


class SeqganApp(App[None]):
    """The seqgan-music terminal app: one tab per pane over a project folder."""

    TITLE = "seqgan-music"
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-narrow"), (120, "-wide")]
    PANES: ClassVar[tuple[PaneClass, ...]] = (CorporaPane, TrainPane, ComposePane, EvaluatePane)
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "refresh", "Refresh"),
        # One binding, two keys: the footer shows f1 while a text field takes the "?".
        Binding("question_mark,f1", "help", "Help"),
        Binding("q", "quit", "Quit"),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
        *(Binding(str(number), f"show_tab({number})", "Show tab 1-4", show=False) for number in range(1, 5)),
        # Before any widget's own use of the keys (scrolling a page sideways), as in browsers.
        Binding("ctrl+pageup", "next_tab(-1)", "Previous tab", show=False, priority=True),
        Binding("ctrl+pagedown", "next_tab(1)", "Next tab", show=False, priority=True),
    ]

    def __init__(self, home: Path, panes: Sequence[PaneClass] | None = None) -> None:
        self.panes = tuple(self.PANES if panes is None else panes)
        super().__init__(css_path=["app.tcss", *dict.fromkeys(pane.CSS_FILE for pane in self.panes)])
        self.home = home
        self.sub_title = str(home)
        self._quitting = False
        self.project_watch = ProjectWatch(home)

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="panes"):
            for pane in self.panes:
                with TabPane(pane.TITLE, id=f"tab-{pane.PANE_ID}"):
                    yield pane(self.home, id=pane.PANE_ID)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.focus_active_pane()
        self.set_interval(WATCH_SECONDS, self.look_at_project)

    # --- keeping the panes up to date ---

    def look_at_project(self) -> None:
        """Post `ProjectChanged` when the folder differs from the last look (another process at work)."""
        change = self.project_watch.changes()
        if change is not None:
            self.post_message(change)

    def on_project_changed(self, change: ProjectChanged) -> None:
        for pane_class in self.panes:
            for pane in self.query(f"#{pane_class.PANE_ID}"):  # none once the app closes, a change still in flight
                if pane is not change.origin:
                    pane.project_changed(change)  # type: ignore[attr-defined]
        self.project_watch.settle()  # what the panes show now: the next look reports only later changes

    def action_refresh(self) -> None:
        """Reread the corpora and runs in every pane (they also follow the folder by themselves)."""
        self.post_message(ProjectChanged(corpora=True, runs=True, forced=True))
        self.project_watch.settle()
        look = self.project_watch.last
        self.notify(f"reread {len(look.corpora)} corpora and {len(look.runs)} runs in {self.home}", markup=False)

    # --- tabs ---

    def action_show_tab(self, number: int) -> None:
        """Show the pane of tab `number` (1 is the first)."""
        if 1 <= number <= len(self.panes):
            self.query_one("#panes", TabbedContent).active = f"tab-{self.panes[number - 1].PANE_ID}"

    def action_next_tab(self, step: int) -> None:
        """Show the tab `step` places on, round from the last to the first."""
        tabs = self.query_one("#panes", TabbedContent)
        names = [f"tab-{pane.PANE_ID}" for pane in self.panes]
        tabs.active = names[(names.index(tabs.active) + step) % len(names)]

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.tabbed_content.id == "panes":
            self.call_after_refresh(self.focus_active_pane)

    def focus_active_pane(self) -> None:
        """Give the focus to the shown pane's main widget (each pane names it in FOCUS).

        The tab shown once the switch has settled, not the event's: focusing a widget of another
        tab would switch back to it (TabbedContent follows the focus), and the first tab's event
        may arrive after a quick switch."""
        for tabs in self.query("#panes").results(TabbedContent):  # none while the app closes
            pane_id = tabs.active.removeprefix("tab-")
            pane_class = next((p for p in self.panes if p.PANE_ID == pane_id), None)
            for widget in self.query(f"#{pane_id} {pane_class.FOCUS}") if pane_class else []:
                widget.focus()

    def action_quit(self) -> None:  # type: ignore[override]
        """Quit, but let a pane finish what must not be cut (a run saves its checkpoint first);
        asked again meanwhile, quit at once (the run still saves when its current unit ends)."""
        if self._quitting:
            self.exit()
            return
        panes = [self.query_one(f"#{pane.PANE_ID}") for pane in self.panes]
        waiting = [pane for pane in panes if hasattr(pane, "stop_before_quit") and pane.stop_before_quit()]
        if not waiting:
            self.exit()
            return
        self._quitting = True
        self.notify("the run stops after the current epoch or round and saves, then the app closes "
                    "(press q again to close now)", severity="warning")

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(self.help_sections()))

    def help_sections(self) -> list[tuple[str, str, list[tuple[str, str]]]]:
        """(title, description, [(keys, action)]) for the whole app, then for each pane."""
        sections = [(f"seqgan-music {__version__}",
                     f"Project folder: {self.home}. Every tab follows it: corpora and runs that another "
                     "process builds, trains or changes appear within seconds (r rereads at once).",
                     self._keys([self]) + [("tab / shift+tab", "Next / previous field")])]
        for pane_class in self.panes:
            pane = self.query_one(f"#{pane_class.PANE_ID}")
            nodes = [pane, *pane.walk_children(with_self=False)]
            sections.append((pane_class.TITLE, pane_class.HELP, self._keys(nodes)))
        return sections

    def _keys(self, nodes: list[DOMNode]) -> list[tuple[str, str]]:
        """(keys, description) of the bindings our own classes among `nodes` declare or inherit
        (a subclass's binding of a key replaces its base's), each key once per description."""
        keys: dict[str, list[str]] = {}
        for cls in dict.fromkeys(type(node) for node in nodes):
            taken: set[str] = set()
            for klass in cls.__mro__:
                if not klass.__module__.startswith("seqgan_music.tui"):
                    continue
                for binding in Binding.make_bindings(vars(klass).get("BINDINGS", [])):
                    if binding.key in taken:
                        continue
                    taken.add(binding.key)
                    shown = keys.setdefault(binding.description or binding.action, [])
                    if self.get_key_display(binding) not in shown:
                        shown.append(self.get_key_display(binding))
        return [(" / ".join(shown), description) for description, shown in keys.items()]


def create_app(home: Path, panes: Sequence[PaneClass] | None = None) -> SeqganApp:
    """The one factory of the app, shared by `seqgan-music tui` and the tests (which may host a
    subset of the panes; the default is all of them)."""
    return SeqganApp(Path(home).expanduser().resolve(), panes)
