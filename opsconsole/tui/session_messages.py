"""What the session and the app say to each other: the small UI the app lends the session
(:class:`SessionUI`), and the messages the session posts, which coalesce bursts
(``can_replace``). No widget here: the session imports this module and nothing else of the TUI."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from textual.message import Message
from textual.notifications import SeverityLevel

from opsconsole.core.commands import Command
from opsconsole.core.host import OperationResult
from opsconsole.core.probes import ProbeState


class SessionUI(Protocol):
    """What the session needs from the app: all of it Textual API or a screen to ask with."""

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None: ...

    def confirm(self, question: str, detail: str, answer: Callable[[bool | None], None]) -> None:
        """Ask ``question`` (with ``detail``); call ``answer`` with the operator's answer."""

    def pick_signal(self, title: str, answer: Callable[[str | None], None]) -> None:
        """Let the operator pick a signal name; call ``answer`` with it (None: cancelled)."""

    def post_message(self, message: Message) -> bool: ...

    def run_worker(self, work: Any, name: str | None = "", group: str = "default") -> Any: ...


class SessionRefreshed(Message):
    """Supervisor snapshots (or the CPU/memory sampled for them) changed."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SessionRefreshed)


class ProbesChanged(Message):
    """A probe round finished; ``states`` are the latest result of every probe."""

    def __init__(self, states: list[ProbeState]) -> None:
        super().__init__()
        self.states = states

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ProbesChanged)


class CommandRouted(Message):
    """A ``:`` command about what is shown (a view, the theme, a screen): the app's to do."""

    def __init__(self, command: Command) -> None:
        super().__init__()
        self.command = command


class RollRequested(Message):
    """A rolling restart the gate let through: the app opens its screen (plan, ask, run)."""

    def __init__(self, server: str, specs: list[str], label: str) -> None:
        super().__init__()
        self.server = server
        self.specs = specs
        self.label = label


class AcrossRequested(Message):
    """A program action on several supervisords (hosts): the app runs it one host at a
    time behind the health gate (tui.fleet_ops). ``keys`` are ``server/program``."""

    def __init__(self, verb: str, keys: list[str], signame: str = "") -> None:
        super().__init__()
        self.verb = verb
        self.keys = keys
        self.signame = signame


class UpdateReread(Message):
    """``reread`` (a ``supervisor.reread`` result) on ``server``: the app says what each
    group's update will stop and start and asks group by group (tui.update_groups)."""

    def __init__(self, server: str, reread: OperationResult) -> None:
        super().__init__()
        self.server = server
        self.reread = reread
