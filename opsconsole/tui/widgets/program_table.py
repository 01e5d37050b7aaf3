"""The program list's table: a DataTable that measures only the column whose width depends
on its cells, and redraws only the cells that changed (the list's rows come from
:mod:`~opsconsole.tui.widgets.program_rows`; :mod:`~opsconsole.tui.widgets.programs` shows
it)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from textual.actions import SkipAction
from textual.binding import Binding
from textual.geometry import Size
from textual.render import measure
from textual.widgets import DataTable
from textual.widgets._data_table import default_cell_formatter
from textual.widgets.data_table import ColumnKey, RowKey


class ProgramTable(DataTable[Any]):
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("g", "scroll_top", "Top", show=False),
        Binding("G", "scroll_bottom", "Bottom", show=False),
    ]

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        """Textual measures every cell of every new row for the columns' widths; here only the
        Info column's width depends on its cells (the others are fixed), so only it is
        measured: 308 rows, a seventh of the work, ~20 ms of the first frame. Rows of more
        than one line (none here) go Textual's way."""
        measured = [c for c in self.ordered_columns if c.auto_width]
        keys = list(new_rows)
        if len(measured) == len(self.ordered_columns) or any(
            self.rows[k].auto_height or self.rows[k].label is not None
            for k in keys
            if k in self.rows
        ):
            super()._update_dimensions(keys)
            return
        console = self.app.console
        for key in keys:
            cells = self._data.get(key)
            if cells is None:
                continue  # removed before the table got to it
            for column in measured:
                datum = cells.get(column.key)
                if datum is not None:
                    width = measure(console, default_cell_formatter(datum), 1)
                    column.content_width = max(column.content_width, width)
        widths = sum(column.get_render_width(self) for column in self.columns.values())
        header = self.header_height if self.show_header else 0
        self.virtual_size = Size(
            widths + self._row_label_column_width, self._total_row_height + header
        )

    def update_cells(self, changes: list[tuple[str, str, Any]]) -> None:
        """Update cells (row key, column key, value), rendering only those cells again.

        ``update_cell`` makes the table forget every rendered cell and render all the cells
        on screen again (a third of the console's CPU at 300 programs when one cell per row
        changed every second); here only the changed cells are rendered again, the others
        come from the table's cache. Falls back to ``update_cell`` if this Textual keeps its
        render caches differently.
        """
        try:
            cells: set[tuple[RowKey, ColumnKey]] = set()
            rows: set[RowKey] = set()
            for row, column, value in changes:
                row_key, column_key = RowKey(row), ColumnKey(column)
                self._data[row_key][column_key] = value
                rows.add(row_key)
                cells.add((row_key, column_key))
            cell_cache, row_cache = self._cell_render_cache, self._row_render_cache
            values_cache = self._row_renderable_cache  # (update count, row index): the values
            indexes = {self._row_locations.get(row_key) for row_key in rows}
            stale_cells = [k for k in cell_cache.keys() if (k[0], k[1]) in cells]  # noqa: SIM118
            stale_rows = [k for k in row_cache.keys() if k[0] in rows]  # noqa: SIM118
            stale_values = [k for k in values_cache.keys() if k[1] in indexes]  # noqa: SIM118
            # the table's lines (y under the header) that show the changed rows
            top = self.header_height if self.show_header else 0
            offsets = self._y_offsets
            ys = {top + i for i in indexes if i is not None}  # rows of one line: y is the index
            if any(i is None or i >= len(offsets) or offsets[i][0] not in rows for i in indexes):
                ys = {top + y for y, (key, _) in enumerate(offsets) if key in rows}
            line_cache = self._line_cache
            stale_lines = [k for k in line_cache.keys() if k[0] in ys]  # noqa: SIM118
        except (AttributeError, TypeError, IndexError, KeyError):  # pragma: no cover
            for row, column, value in changes:
                self.update_cell(row, column, value)
            return
        for cell in stale_cells:
            cell_cache.discard(cell)
        for line in stale_rows:
            row_cache.discard(line)
        for values in stale_values:
            values_cache.discard(values)
        for drawn in stale_lines:
            line_cache.discard(drawn)
        # The whole table is repainted, as update_cell does (its other lines come from the
        # cache of lines): refreshing only the changed rows' regions left the screen stale
        # when a layout change (the probe line appearing) came in the same frame, in a real
        # terminal (the tab row vanished, the header was drawn twice).
        if self.on_screen(indexes):
            self.refresh()
        # else: rows scrolled out of sight are drawn from their new cells when they come in

    #: called when rows may have come into sight (a scroll, a resize): the view draws the
    #: cells it held back while their rows were out of sight (ProgramsView._reveal)
    on_sight: Callable[[], None] | None = None

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if round(old_value) != round(new_value) and self.on_sight is not None:
            self.on_sight()

    def on_resize(self) -> None:  # DataTable's own _on_resize runs as well
        if self.on_sight is not None:
            self.on_sight()

    def sight(self) -> tuple[int, int]:
        """The first and last row index within the table's visible lines, a row or two of
        margin either side (as :meth:`on_screen`)."""
        first = int(self.scroll_y)
        return first - 2, first + max(self.size.height, 1) + 2

    def on_screen(self, indexes: Iterable[int | None]) -> bool:
        """True when a row at one of ``indexes`` is within the table's visible lines (each
        row one line high, under the header; a row or two of margin either side)."""
        first, last = self.sight()
        return any(i is None or first <= i <= last for i in indexes)

    def action_select_cursor(self) -> None:
        """``enter`` belongs to the view (fold, from the registry of operations): the table's
        own ``enter`` binding steps aside instead of swallowing the key."""
        raise SkipAction()
