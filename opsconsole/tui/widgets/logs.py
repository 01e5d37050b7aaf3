"""The Logs view: a list of every log the operator can open, and a LogView showing the
selected one(s).

Sources come from supervisord (each program's stdout/stderr and supervisord's own log) and
from files (``[logs] files`` in the config, gunicorn's and nginx's logs, paths given to the
view, paths added with ``a``). ``enter`` opens the highlighted source; ``m`` marks several,
and ``enter`` then opens the marked ones merged by time.

Every log is read through the session's host (:meth:`Session.log_source
<opsconsole.tui.session.Session.log_source>`: ``host.log`` opens, follows and scrolls back).
The list itself is still built from the supervisor monitor's snapshots.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, OptionList
from textual.widgets.option_list import Option

from opsconsole.core.errors import OpsError
from opsconsole.core.logs import DEFAULT_RING, LogSource, SourceSpec, available_sources, make_source
from opsconsole.tui.fleet import log_servers
from opsconsole.tui.keys import bindings
from opsconsole.tui.tcss import load_tcss
from opsconsole.tui.widgets.logview import LogView

if TYPE_CHECKING:
    from typing_extensions import Self

    from opsconsole.tui.session import Session


class SourceList(OptionList):
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("g", "first", "Top", show=False),
        Binding("G", "last", "Bottom", show=False),
    ]


class LogsView(Horizontal):
    """Source list on the left, LogView on the right.

    The app calls :meth:`open_sources` (e.g. when ``l`` is pressed on a program) with
    :class:`SourceSpec` values or with plain file paths.
    """

    BINDINGS = bindings("logs")  # from the registry of operations (core.operations)

    DEFAULT_CSS = load_tcss(__file__, "logs_view.tcss")

    def __init__(
        self,
        files: Sequence[str] = (),
        *,
        ring_size: int | None = None,
        interval: float = 0.5,
        session: Session | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        #: where the view finds supervisord clients, configured and discovered log files
        self.session = session
        self.extra_files = [os.path.expanduser(f) for f in files]
        self._ring_size = ring_size
        self.interval = interval
        self.specs: list[SourceSpec] = []
        self.marked: set[str] = set()
        self.open_keys: list[str] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="log-sources-pane"):
            yield SourceList(id="log-sources")
            yield Input(placeholder="path of a log file", id="log-add")
        yield LogView(ring_size=self.ring_size, interval=self.interval, id="log-view")

    @property
    def ring_size(self) -> int:
        if self._ring_size is not None:
            return self._ring_size
        if self.session is None:
            return DEFAULT_RING
        return int(self.session.config.log_ring_size)

    @property
    def log_view(self) -> LogView:
        return self.query_one(LogView)

    def on_mount(self) -> None:
        self.refresh_sources()
        self.set_interval(2.0, self.refresh_sources)

    def focus(self, scroll_visible: bool = True) -> Self:
        """Focus the source list when it is shown, else the open log's lines."""
        pane_shown = self.query_one("#log-sources-pane").display
        target = "#log-sources" if pane_shown else "#log-view LogLines"
        self.query_one(target).focus(scroll_visible)
        return self

    # -- sources -------------------------------------------------------------------------

    def _files(self) -> list[str]:
        if self.session is None:
            return list(self.extra_files)
        files = list(self.session.config.log_files)
        return files + self.extra_files + self.session.discovered_log_files()

    def refresh_sources(self) -> None:
        """Rebuild the list from the monitor's latest snapshots and the known files."""
        snapshots = log_servers(self.session) if self.session is not None else {}
        if snapshots is getattr(self, "_listed", None):  # a fleet whose programs did not change
            return
        self._listed = snapshots
        specs = available_sources(snapshots, self._files())
        if [s.key for s in specs] == [s.key for s in self.specs]:
            return
        self.specs = specs
        listing = self.query_one(SourceList)
        highlighted = listing.highlighted
        listing.clear_options()
        listing.add_options([Option(self._label(s), id=s.key) for s in specs])
        if specs:
            listing.highlighted = min(highlighted or 0, len(specs) - 1)

    def _label(self, spec: SourceSpec) -> Text:
        mark = "✓ " if spec.key in self.marked else "  "
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(mark, style="bold green")
        if spec.kind == "file":
            # the parent directory tells apart logs of the same name (web/error.log, …)
            parent = os.path.basename(os.path.dirname(spec.path))
            t.append(f"{parent}/" if parent else "", style="dim")
            t.append(os.path.basename(spec.path) or spec.path, style="cyan")
        else:
            t.append(spec.label)
        return t

    def _redraw_labels(self) -> None:
        listing = self.query_one(SourceList)
        for spec in self.specs:
            listing.replace_option_prompt(spec.key, self._label(spec))

    # -- opening -------------------------------------------------------------------------

    def open_sources(self, sources: Sequence[SourceSpec | str | LogSource]) -> None:
        """Open these logs in the LogView, merged by time when there are several.

        Accepts :class:`SourceSpec` (``SourceSpec("program", server, "web", "stderr")``,
        ``SourceSpec("supervisord", server)``, ``SourceSpec("file", path=...)``), a plain file
        path, or a ready :class:`LogSource`. A file path not yet listed is added to the list.
        """
        built: list[LogSource] = []
        keys: list[str] = []
        for item in sources:
            if isinstance(item, str):
                item = SourceSpec("file", path=os.path.expanduser(item))
            if isinstance(item, SourceSpec):
                if item.kind == "file" and item.path not in self._files():
                    self.extra_files.append(item.path)
                try:
                    built.append(self._source(item))
                except OpsError as exc:
                    self.notify(f"{exc.message}\n{exc.hint}".strip(), severity="error")
                    continue
                keys.append(item.key)
            else:
                built.append(item)
                keys.append(item.key)
        if not built:
            return
        self.open_keys = keys
        self.refresh_sources()
        self.log_view.set_sources(built)
        self.query_one("#log-sources-pane").display = not self.narrow
        self.log_view.lines_widget.focus()

    def _source(self, spec: SourceSpec) -> LogSource:
        """The log a spec names, read through the session's host (without a session: a file
        read here). Raises LogError."""
        if self.session is not None:
            return self.session.log_source(spec)
        return make_source(spec, {})

    def open_program(
        self, server: str, name: str, streams: Sequence[str] = ("stdout", "stderr")
    ) -> None:
        """Open a program's captured output (both streams merged by default)."""
        self.open_sources([SourceSpec("program", server, name, s) for s in streams])

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        chosen = [s for s in self.specs if s.key in self.marked]
        if not chosen:
            chosen = [s for s in self.specs if s.key == event.option.id]
        self.open_sources(chosen)

    def action_mark(self) -> None:
        listing = self.query_one(SourceList)
        if listing.highlighted is None or not self.specs:
            return
        key = self.specs[listing.highlighted].key
        self.marked.symmetric_difference_update({key})
        self._redraw_labels()
        listing.action_cursor_down()

    def action_add_file(self) -> None:
        box = self.query_one("#log-add", Input)
        box.add_class("open")
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "log-add":
            return
        event.stop()
        event.input.remove_class("open")
        path = event.value.strip()
        event.input.value = ""
        if path:
            self.open_sources([path])

    @property
    def narrow(self) -> bool:
        """Below 120 columns an open log gets the whole width; tab brings the list back."""
        return (self.size.width or self.app.size.width) < 120

    def action_switch_pane(self) -> None:
        listing = self.query_one(SourceList)
        pane = self.query_one("#log-sources-pane")
        if listing.has_focus:
            self.log_view.lines_widget.focus()
            pane.display = not self.narrow
        else:
            pane.display = True
            listing.focus()
