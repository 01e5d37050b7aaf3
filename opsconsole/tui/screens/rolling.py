"""The rolling restart screen: the plan, one confirmation, then each step as it happens.

Reached with the programs view's key (``W``: the selected program, its group or the
marked programs) or ``:restart --rolling NAME…``. The session refuses it in read-only mode
before this screen opens (:meth:`~opsconsole.tui.session.Session.roll`). Here the plan is
read through the host (:func:`opsconsole.core.rolling.make_plan`), the operator is asked once
(the question names every program, the detail what each must pass), and the roll runs as
one gated operation (:func:`~opsconsole.core.rolling.run_gated`: each step's restart is
audited by the host, the roll itself once). ``esc`` while it runs stops it between steps
(nothing more is asked; the screen says what was left undone); once it ended ``esc``
closes. Every healthy step goes on the timeline too, so ``:export`` has the roll.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from opsconsole.core.errors import OpsError
from opsconsole.core.rolling import (
    RollEvent,
    RollOutcome,
    RollPlan,
    RollRunner,
    make_plan,
    run_gated,
)
from opsconsole.tui.tcss import load_tcss

if TYPE_CHECKING:
    from opsconsole.tui.session import Session


_MARKS = {
    "waiting": ("  ", "dim"),
    "running": ("▶ ", "bold"),
    "healthy": ("✓ ", "green"),
    "failed": ("✗ ", "bold red"),
    "left": ("- ", "dim"),
}


class RollingScreen(ModalScreen[None]):
    """Plan, confirm, run and show a rolling restart (see the module docstring)."""

    DEFAULT_CSS = load_tcss(__file__, "rolling.tcss")
    BINDINGS = [Binding("escape", "cancel", "Cancel / close")]

    def __init__(self, session: Session, server: str, specs: list[str], label: str) -> None:
        super().__init__()
        self.session = session
        self.server = server
        self.specs = list(specs)
        self.label = label
        #: planning, asking, running, cancelling, finished, closed
        self.phase = "planning"
        self.plan: RollPlan | None = None
        self.runner: RollRunner | None = None
        self.outcome: RollOutcome | None = None
        #: per step: (state, the latest words)
        self.steps: list[tuple[str, str]] = []
        self.status = f"planning the rolling restart of {label} …"

    def compose(self) -> ComposeResult:
        with Vertical(id="roll-box"):
            yield Label(Text(f"Rolling restart: {self.label}", style="bold"), id="roll-title")
            yield Static("", id="roll-steps")
            yield Static(Text(self.status), id="roll-status")
            yield Label("", id="roll-keys")

    def on_mount(self) -> None:
        self._draw()
        self.run_worker(self._make_plan(), group="roll", exclusive=True)

    # -- the work ------------------------------------------------------------------------

    async def _make_plan(self) -> None:
        try:
            plan = await make_plan(self.session.machine, self.server, self.specs, self.label)
        except OpsError as exc:
            self._finish(f"cannot plan the roll: {exc.message}\n{exc.hint}".strip())
            return
        if self.phase != "planning":  # closed with esc while planning: ask nothing
            return
        self.plan = plan
        self.steps = [("waiting", f"must stay {s.gate_words}") for s in plan.steps]
        self.phase = "asking"
        self.status = "waiting for your answer"
        self._draw()
        self.session.ui.confirm(plan.question, plan.detail, self._answered)

    def _answered(self, yes: bool | None) -> None:
        if self.phase != "asking":
            return
        if not yes or self.plan is None:
            self._finish("not started: nothing was restarted")
            return
        self.runner = RollRunner(self.session.machine, self.plan)
        self.phase = "running"
        self.status = f"restarting {len(self.plan.steps)} program(s) one at a time"
        self._draw()
        self.run_worker(self._run(self.runner), group="roll", exclusive=True)

    async def _run(self, runner: RollRunner) -> None:
        try:
            outcome = await run_gated(self.session.gate, runner, self._on_event, confirmed=True)
        except OpsError as exc:  # read-only since, or the gate refused
            self._finish(f"{exc.message}\n{exc.hint}".strip())
            return
        finally:
            self.session.poll_now()
        self.outcome = outcome
        self._finish(outcome.message, ok=outcome.ok)

    def _on_event(self, event: RollEvent) -> None:
        i = event.index - 1
        if 0 <= i < len(self.steps):
            if event.kind == "healthy":
                self.steps[i] = ("healthy", event.message.split(": ", 1)[-1])
                self.session.timeline.add(
                    "action", "info", event.program, f"rolling restart: {self.steps[i][1]}"
                )
            elif event.kind == "failed":
                self.steps[i] = ("failed", "failed")
            else:
                self.steps[i] = ("running", event.message.split(": ", 1)[-1])
        if event.kind in ("failed", "cancelled"):
            for j, (state, _) in enumerate(self.steps):
                if state == "waiting":
                    self.steps[j] = ("left", "not restarted")
        if self.phase == "running" or event.kind in ("failed", "cancelled", "done"):
            self.status = event.message
        self._draw()

    def _finish(self, status: str, *, ok: bool = False) -> None:
        self.phase = "finished"
        self.status = status
        self._draw()
        self.session.ui.notify(
            status, title="Rolling restart", severity="information" if ok else "warning"
        )

    # -- keys ----------------------------------------------------------------------------

    def action_cancel(self) -> None:
        """While it runs: stop between steps (asks nothing). Otherwise: close."""
        if self.phase == "running" and self.runner is not None:
            self.runner.cancel()
            self.phase = "cancelling"
            current = next((i for i, (s, _) in enumerate(self.steps) if s == "running"), None)
            where = (
                f"after {self.plan.steps[current].program}"
                if self.plan and current is not None
                else "now"
            )
            self.status = f"cancelling: the roll stops {where} (that step finishes its checks)"
            self._draw()
        elif self.phase in ("planning", "asking", "finished"):
            self.phase = "closed"
            self.dismiss(None)

    # -- drawing -------------------------------------------------------------------------

    def _draw(self) -> None:
        if not self.is_mounted:
            return
        lines = Text()
        if self.plan is not None:
            width = max((len(s.program) for s in self.plan.steps), default=0)
            for n, (step, (state, words)) in enumerate(zip(self.plan.steps, self.steps), 1):
                mark, style = _MARKS[state]
                if n > 1:
                    lines.append("\n")
                lines.append(mark, style=style)
                lines.append(
                    f"{n} {step.program:<{width}}  ", style="bold" if state == "running" else ""
                )
                lines.append(words, style=style if state != "running" else "")
        self.query_one("#roll-steps", Static).update(lines)
        self.query_one("#roll-status", Static).update(Text(self.status))
        keys = {
            "running": "esc  stop after this step",
            "cancelling": "stopping after this step …",
        }.get(self.phase, "esc  close")
        self.query_one("#roll-keys", Label).update(Text(keys, style="dim"))
