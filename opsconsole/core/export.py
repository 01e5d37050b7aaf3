"""``:export``: a markdown incident note (timeline and actions taken) for the postmortem."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable
from pathlib import Path

from opsconsole.core.actions import AuditRecord
from opsconsole.core.events import Event
from opsconsole.core.private_files import write_private


def _ts(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def incident_markdown(
    events: Iterable[Event],
    actions: Iterable[AuditRecord],
    *,
    host: str | None = None,
    now: float | None = None,
) -> str:
    """Render the session's timeline and actions as markdown (pure, given its inputs)."""
    events = list(events)
    actions = list(actions)
    now = now if now is not None else time.time()
    lines = [
        f"# Incident note — {host or socket.gethostname()} — {_ts(now)}",
        "",
        "Written by opsconsole `:export`. Times are local to the console's host.",
        "",
    ]
    if events:
        lines += [f"Window: {_ts(events[0].time)} → {_ts(events[-1].time)}", ""]
    problems = [e for e in events if e.level == "error"]
    lines += ["## Summary", ""]
    lines.append(f"- {len(events)} events, {len(problems)} errors, {len(actions)} actions")
    for e in problems[:10]:
        lines.append(f"- {_ts(e.time)} {e.source}: {e.text}")
    lines += [
        "",
        "## Timeline",
        "",
        "| time | level | kind | source | what |",
        "|---|---|---|---|---|",
    ]
    for e in events:
        lines.append(
            f"| {_ts(e.time)} | {e.level} | {e.kind} | {_cell(e.source)} | {_cell(e.text)} |"
        )
    lines += ["", "## Actions taken", ""]
    if actions:
        lines += [
            "| time | user | action | target | result | detail |",
            "|---|---|---|---|---|---|",
        ]
        for a in actions:
            who = a.user + (f" from {a.ssh_client}" if a.ssh_client else "")
            lines.append(
                f"| {_ts(a.time)} | {_cell(who)} | {a.action} | {_cell(a.target)} | {a.result} "
                f"| {_cell(a.detail)} |"
            )
    else:
        lines.append("None.")
    lines.append("")
    return "\n".join(lines)


def default_export_path(now: float | None = None) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now if now is not None else time.time()))
    return Path.cwd() / f"opsconsole-incident-{stamp}.md"


def write_note(path: Path, text: str) -> None:
    """Write an incident note that only its owner can read (0600, whatever the umask): it
    names who did what and quotes log lines, which may carry secrets. It is written aside and
    renamed into place, so a full disk leaves no half-written note. Raises OSError."""
    write_private(path, text)
