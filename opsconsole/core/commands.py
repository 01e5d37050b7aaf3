"""Command mode (``:`` as in k9s/vim): the command table, parsing and completion (pure).

The table is made from the registry of operations (core.operations): each ``:`` verb is
registered there beside the operation it runs, its keys and its CLI verb.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from opsconsole.core.errors import OpsError
from opsconsole.core.operations import VERBS, operation


class CommandError(OpsError):
    """A command line that does not parse; the hint shows the usage."""


@dataclass(frozen=True)
class CommandSpec:
    name: str
    usage: str
    help: str
    min_args: int = 0
    max_args: int | None = 0
    op_id: str | None = None  # the core operation it runs, when it changes something
    complete: str = ""  # what its first argument completes from: program | theme | view | nginx


def _commands() -> dict[str, CommandSpec]:
    """The ``:`` commands, made from the registry's verbs (core.operations), in its order."""
    return {
        v.name: CommandSpec(
            v.name,
            v.usage,
            v.help,
            v.min_args,
            v.max_args,
            v.op if operation(v.op).mutating else None,
            v.complete,
        )
        for v in VERBS
    }


COMMANDS: dict[str, CommandSpec] = _commands()

VIEWS = ["programs", "gunicorn", "nginx", "logs", "events"]
NGINX_VERBS = ["test", "reload", "status", "diff", "rollback"]
SIGNALS = ["HUP", "USR1", "USR2", "TERM", "INT", "QUIT", "TTIN", "TTOU", "WINCH", "KILL"]


@dataclass(frozen=True)
class Command:
    name: str
    args: tuple[str, ...]

    @property
    def spec(self) -> CommandSpec:
        return COMMANDS[self.name]


def parse(line: str) -> Command:
    """Parse a command line (with or without the leading ``:``). Raises CommandError."""
    text = line.strip().removeprefix(":").strip()
    if not text:
        raise CommandError("empty command", "type a command, e.g. :restart web (:help lists all)")
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise CommandError(f"cannot parse {text!r}: {exc}", "check the quotes") from exc
    name, args = words[0].lower(), tuple(words[1:])
    spec = COMMANDS.get(name)
    if spec is None:
        close = [c for c in COMMANDS if c.startswith(name[:2])]
        hint = f"did you mean {', '.join(':' + c for c in close)}?" if close else ":help lists all"
        raise CommandError(f"unknown command :{name}", hint)
    if len(args) < spec.min_args or (spec.max_args is not None and len(args) > spec.max_args):
        raise CommandError(f"usage: :{name} {spec.usage}".rstrip(), spec.help)
    if name == "nginx" and args[0] not in NGINX_VERBS:
        raise CommandError(f"usage: :nginx {spec.usage}", spec.help)
    if name == "view" and args[0] not in VIEWS:
        raise CommandError(f"no view {args[0]!r}", f"views: {', '.join(VIEWS)}")
    if name == "scale":
        parse_scale(args[1])
    return Command(name, args)


def parse_scale(value: str) -> tuple[str, int]:
    """``4`` → ("set", 4); ``+2`` → ("add", 2); ``-1`` → ("add", -1)."""
    try:
        number = int(value)
    except ValueError:
        raise CommandError(f"not a worker count: {value!r}", "use N, +N or -N") from None
    if value.startswith(("+", "-")):
        return ("add", number)
    if number < 1:
        raise CommandError("a gunicorn master needs at least 1 worker", "use a count of 1 or more")
    return ("set", number)


def complete(line: str, programs: list[str], themes: list[str]) -> str | None:
    """The completed line for what has been typed so far, or None."""
    text = line.removeprefix(":")
    words = text.split(" ")
    if len(words) == 1:
        matches = sorted(c for c in COMMANDS if c.startswith(words[0].lower()) and c != "quit")
        return f":{matches[0]}" if matches and matches[0] != words[0] else None
    spec = COMMANDS.get(words[0].lower())
    if spec is None or not spec.complete:
        return None
    source = {
        "program": programs
        + [f"{g}:*" for g in sorted({p.split(":")[0] for p in programs if ":" in p})],
        "theme": themes,
        "view": VIEWS,
        "nginx": NGINX_VERBS,
        "signal": SIGNALS,
    }[spec.complete]
    current = words[-1]
    if not current:
        return None
    matches = sorted(s for s in source if s.startswith(current) and s != current)
    if not matches:
        return None
    return ":" + " ".join([*words[:-1], matches[0]])
