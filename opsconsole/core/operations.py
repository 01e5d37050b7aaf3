"""The one registry of user-facing operations (no Textual here).

Every operation the console offers is registered once: its id (what the gate and the audit
trail record), title, whether it changes anything, whether it needs a confirmation and the
question asked, the help line, the keys that run it in each view, its ``:`` command and its
CLI subcommand. Everything else is generated from this table:

- the gate (``core.actions``) reads ``mutating`` and ``confirm``;
- the TUI's bindings, footer, ``?`` help and command palette (``tui.keys``) read ``KEYS``;
- ``:`` parsing and completion (``core.commands``) read ``VERBS``;
- a test checks that every ``cli`` verb is a real subcommand of the CLI parser, and that every
  CLI subcommand that asks for ``--yes`` is one of these operations.

Keys follow k9s: one verb, one key, in every view where it applies (``K`` sends a signal to
the selected program or gunicorn worker, ``R`` reloads, ``l`` opens logs, ``t`` tests).

Keys and ``:`` verbs are listed in the order they are shown (help, footer, palette), view by
view, so that adding an operation is one place to edit and the order stays deliberate.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Where a key applies: the app everywhere, or one view's widget. ``logs`` is the source
#: list of the logs view, ``log`` an open log.
SCOPES = ("programs", "gunicorn", "nginx", "logs", "log", "hosts", "app")


@dataclass(frozen=True)
class Operation:
    """One user-facing operation.

    ``question`` is the confirmation asked before a mutating operation runs, a template
    formatted with the target and the operation's parameters (``{target}``, ``{signal}`` ...);
    the view adds the details it knows (the plan, the verification). ``cli`` is the CLI
    subcommand (words separated by spaces: ``"nginx reload"``), or None when there is none.
    """

    id: str
    title: str
    mutating: bool
    confirm: bool = False
    help: str = ""
    question: str = ""
    cli: str | None = None

    @property
    def description(self) -> str:
        return self.help

    @property
    def keys(self) -> list[Key]:
        """Every key that runs this operation, in every view."""
        return [k for k in KEYS if k.op == self.id]

    @property
    def key(self) -> str | None:
        """The first key that runs it (its default binding), or None."""
        keys = self.keys
        return keys[0].key if keys else None

    @property
    def views(self) -> list[str]:
        """Where its keys apply."""
        return list(dict.fromkeys(k.scope for k in self.keys))

    @property
    def verbs(self) -> list[Verb]:
        """Its ``:`` commands."""
        return [v for v in VERBS if v.op == self.id]


@dataclass(frozen=True)
class Key:
    """A key that runs operation ``op`` in one scope (a view, or ``app``: everywhere).

    ``key`` is Textual's key name, alternatives separated by commas (``"escape,q"``);
    ``action`` is the Textual action it runs on the scope's widget (``"scale('+1')"``);
    ``label`` is what the footer, help and palette call it (default: the operation's title);
    ``show`` puts it in the footer; ``priority`` handles it before the focused widget sees it.
    """

    op: str
    scope: str
    key: str
    action: str
    label: str = ""
    show: bool = True
    priority: bool = False

    @property
    def text(self) -> str:
        return self.label or OPERATIONS[self.op].title


@dataclass(frozen=True)
class Verb:
    """A ``:`` command that runs operation ``op``.

    ``min_args``/``max_args`` bound its arguments (None: any number); ``complete`` says what
    its first argument completes from: program | theme | view | nginx | signal.
    """

    op: str
    name: str
    usage: str
    help: str
    min_args: int = 0
    max_args: int | None = 0
    complete: str = ""


OPERATIONS: dict[str, Operation] = {}
KEYS: list[Key] = []
VERBS: list[Verb] = []


def register(op: Operation) -> Operation:
    """Add (or replace) an operation; returns it."""
    OPERATIONS[op.id] = op
    return op


def operation(op_id: str) -> Operation:
    """The registered operation ``op_id``. Raises KeyError for an unknown id."""
    try:
        return OPERATIONS[op_id]
    except KeyError:  # pragma: no cover - programming error
        raise KeyError(f"unregistered operation {op_id!r}") from None


def bind(
    op_id: str,
    scope: str,
    key: str,
    action: str,
    label: str = "",
    *,
    show: bool = True,
    priority: bool = False,
) -> Key:
    """Bind ``key`` to operation ``op_id`` in ``scope`` (a view, or ``app``)."""
    operation(op_id)
    if scope not in SCOPES:  # pragma: no cover - programming error
        raise ValueError(f"unknown scope {scope!r}")
    entry = Key(op_id, scope, key, action, label, show, priority)
    KEYS.append(entry)
    return entry


def verb(
    op_id: str,
    name: str,
    usage: str,
    help: str,
    min_args: int = 0,
    max_args: int | None = 0,
    complete: str = "",
) -> Verb:
    """Add the ``:`` command ``name`` that runs operation ``op_id``."""
    operation(op_id)
    entry = Verb(op_id, name, usage, help, min_args, max_args, complete)
    VERBS.append(entry)
    return entry


def keys_for(scope: str) -> list[Key]:
    """The keys of one scope, in the order they are shown."""
    return [k for k in KEYS if k.scope == scope]


def _op(
    op_id: str,
    title: str,
    mutating: bool = False,
    confirm: bool = False,
    help: str = "",
    question: str = "",
    cli: str | None = None,
) -> None:
    register(Operation(op_id, title, mutating, confirm, help, question, cli))


# --------------------------------------------------------------------------- operations
# Supervisor (gated: what the audit trail records)
_op(
    "supervisor.start",
    "Start",
    True,
    help="start the program(s)",
    question="Start {target}?",
    cli="start",
)
_op(
    "supervisor.stop",
    "Stop",
    True,
    True,
    help="stop the program(s)",
    question="Stop {target}?",
    cli="stop",
)
_op(
    "supervisor.restart",
    "Restart",
    True,
    True,
    help="stop then start",
    question="Restart {target}?",
    cli="restart",
)
_op(
    "supervisor.rolling_restart",
    "Rolling restart",
    True,
    True,
    help="restart one at a time, each RUNNING (startsecs, >= 2 s) with its probes green first",
    question="Restart {target} one at a time?",
    cli="restart",  # restart --rolling
)
_op(
    "supervisor.signal",
    "Signal",
    True,
    True,
    help="send a signal (picker)",
    question="Send SIG{signal} to {target}?",
    cli="signal",
)
_op(
    "supervisor.clear_logs",
    "Clear logs",
    True,
    True,
    help="clear captured logs",
    question="Clear logs {target}?",
)
_op(
    "supervisor.reread", "Reread", True, help="reread config (no change)", question="Reread config?"
)
_op(
    "supervisor.update",
    "Update",
    True,
    True,
    help="apply config changes",
    question="Apply the config changes?",
    cli="update",
)
# Gunicorn
_op(
    "gunicorn.scale",
    "Scale workers",
    True,
    True,
    help="TTIN/TTOU (or the control socket)",
    question="Send {action} to {target}: {before} -> {after} workers?",
    cli="scale",
)
_op(
    "gunicorn.reload",
    "Graceful reload",
    True,
    True,
    help="HUP the master",
    question="Send HUP to {target}?",
)
_op(
    "gunicorn.reopen",
    "Reopen logs",
    True,
    True,
    help="USR1 the master",
    question="Send USR1 to {target}?",
)
_op(
    "gunicorn.worker_signal",
    "Signal worker",
    True,
    True,
    help="TERM/KILL/ABRT a worker (picker)",
    question="Send {signal} to worker {pid} of {target}?",
)
# a read, but py-spy stops the worker for a moment (ptrace): audited, allowed read-only
_op(
    "gunicorn.stack",
    "Worker stack",
    help="the worker's Python stack (py-spy dump), without killing it",
    cli="stack",
)
# Nginx
_op(
    "nginx.test",
    "Test config",
    help="nginx -t",
    question="Test {target}?",
    cli="nginx test",
)
_op(
    "nginx.reload",
    "Reload",
    True,
    True,
    help="test then reload",
    question="Reload {target} (master {pid})?",
    cli="nginx reload",
)
_op(
    "nginx.diff",
    "Config diff",
    help="what changed since the last config that reloaded and was verified",
    cli="nginx diff",
)
_op(
    "nginx.rollback",
    "Rollback",
    True,
    True,
    help="write the last good config back (changed files only), test, reload, verify",
    question="Roll {target} back to the config of {when}?",
    cli="nginx rollback",
)
# The console itself (never gated: they change nothing outside it)
_op("ui.quit", "Quit", help="quit")
_op("ui.help", "Help", help="keys and commands")
_op("ui.command", "Command", help="command mode (tab completes, ↑/↓ history)")
_op("ui.server_info", "supervisord info", help="version, pid, state, uptime of each")
_op("ui.view", "Show a view", help="show a view")
_op("ui.theme", "Theme", help="switch the theme")
_op("ui.export", "Export", help="write a markdown incident note")
_op("ui.audit", "Audit trail", help="show the audit trail")
_op("ui.hosts", "Hosts", help="the hosts: link, round trip, agent, programs, workers, nginx")
_op("ui.host", "Only this host", help="narrow every view to one host (:host all: every host)")
_op("ui.logs", "Logs", help="open the logs")
_op("ui.filter", "Filter", help="filter the list")
_op("ui.back", "Clear", help="back, clear")
_op("ui.mark", "Mark", help="mark (actions then apply to the marked)")
_op("ui.fold", "Fold", help="fold a group")
_op("ui.sort", "Sort", help="cycle the sort column")
_op("ui.nginx", "Nginx", help="nginx: test the config, reload it, status")
_op("ui.config", "Config", help="view the effective config")
_op("ui.topology", "Topology", help="nginx -> upstreams -> gunicorn -> supervisor", cli="topology")
_op("ui.add_file", "Add file", help="add a log file to the list")
_op("ui.pane", "List/log", help="switch between the source list and the log")
_op("ui.follow", "Pause/follow", help="pause / follow the log")
_op("ui.search", "Search", help="search the log")
_op("ui.wrap", "Wrap", help="wrap long lines")
_op("ui.move", "Move", help="move, top, bottom")

# --------------------------------------------------------------------------- keys, by view
# Programs (1)
bind("supervisor.start", "programs", "s", "op('start')")
bind("supervisor.stop", "programs", "x", "op('stop')")
bind("supervisor.restart", "programs", "r", "op('restart')")
# not in the footer: it is full at 80 columns (the `:` hint would be cut); ? help, palette
bind("supervisor.rolling_restart", "programs", "W", "op('rolling')", show=False)
bind("supervisor.signal", "programs", "K", "op('signal')")
bind("supervisor.clear_logs", "programs", "C", "op('clear_logs')", "Clear log", show=False)
bind("ui.mark", "programs", "space", "mark", show=False)
bind("ui.mark", "programs", "ctrl+a", "mark_all", "Mark all", show=False)
bind("ui.fold", "programs", "enter", "toggle_group", show=False)
bind("ui.sort", "programs", "o", "sort")
bind("ui.filter", "programs", "slash", "filter")
bind("supervisor.reread", "programs", "u", "update", "Update", show=False)
bind("ui.logs", "programs", "l", "logs")
bind("ui.back", "programs", "escape", "clear", show=False)
# Gunicorn (2)
bind("gunicorn.scale", "gunicorn", "plus", "scale('+1')", "+1 worker")
bind("gunicorn.scale", "gunicorn", "minus", "scale('-1')", "-1 worker")
bind("gunicorn.scale", "gunicorn", "equals_sign", "scale_exact", "Count")
bind("gunicorn.reload", "gunicorn", "R", "reload", "Reload")
bind("gunicorn.worker_signal", "gunicorn", "K", "signal", "Signal", show=False)  # footer: 80 cols
bind("gunicorn.stack", "gunicorn", "S", "stack", "Stack", show=False)
bind("ui.fold", "gunicorn", "enter", "fold", show=False)
bind("ui.filter", "gunicorn", "slash", "filter")
bind("ui.logs", "gunicorn", "l", "logs", show=False)
bind("ui.back", "gunicorn", "escape", "clear", show=False)
# Nginx (3)
bind("nginx.test", "nginx", "t", "test", "Test")
bind("nginx.reload", "nginx", "R", "reload")
bind("nginx.diff", "nginx", "d", "diff", "Diff")
bind("nginx.rollback", "nginx", "U", "rollback", show=False)
bind("ui.config", "nginx", "c", "config")
bind("ui.topology", "nginx", "p", "topology")
bind("ui.logs", "nginx", "l", "logs")
bind("ui.back", "nginx", "escape", "back", "Back", show=False)
# Logs (4): the source list
bind("ui.mark", "logs", "m", "mark", show=False)
bind("ui.add_file", "logs", "a", "add_file")
bind("ui.pane", "logs", "tab", "switch_pane", show=False)
# Logs (4): an open log
bind("ui.follow", "log", "space", "toggle_follow")
bind("ui.search", "log", "slash", "prompt('search')")
bind("ui.search", "log", "n", "find(True)", "Next", show=False)
bind("ui.search", "log", "N", "find(False)", "Prev", show=False)
bind("ui.filter", "log", "f", "prompt('filter')")
bind("ui.filter", "log", "F", "invert", "Invert filter", show=False)
bind("ui.wrap", "log", "w", "wrap")
bind("ui.move", "log", "G", "end", "End", show=False)
bind("ui.move", "log", "g", "top", "Top", show=False)
bind("ui.move", "log", "j", "down", "Down", show=False)
bind("ui.move", "log", "k", "up", "Up", show=False)
bind("ui.back", "log", "escape", "close_prompt", "Close", show=False)
# Hosts (6): on a console of several hosts
bind("ui.host", "hosts", "enter", "narrow", "Only this host")
# Everywhere
bind("ui.quit", "app", "q", "quit")
bind("ui.quit", "app", "ctrl+c", "quit", show=False, priority=True)
bind("ui.help", "app", "question_mark", "help")
# priority: handled as the key arrives, so the keys typed right after it reach the bar
bind("ui.command", "app", "colon", "command", priority=True)
bind("ui.server_info", "app", "i", "server_info", show=False)
bind("ui.view", "app", "1", "view('programs')", "Programs", show=False)
bind("ui.view", "app", "2", "view('gunicorn')", "Gunicorn", show=False)
bind("ui.view", "app", "3", "view('nginx')", "Nginx", show=False)
bind("ui.view", "app", "4", "view('logs')", "Logs", show=False)
bind("ui.view", "app", "5", "view('events')", "Events", show=False)
bind("ui.hosts", "app", "6", "view('hosts')", "Hosts", show=False)
# priority: the screen's own tab (focus the next widget) would take it first
bind("ui.view", "app", "tab", "next_view", "Next view", show=False, priority=True)

# --------------------------------------------------------------------------- `:` commands
verb(
    "supervisor.start",
    "start",
    "NAME…",
    "start programs (name, group:* or all)",
    1,
    None,
    "program",
)
verb("supervisor.stop", "stop", "NAME…", "stop programs", 1, None, "program")
verb(
    "supervisor.restart",
    "restart",
    "NAME…",
    "restart programs (--rolling NAME…: one at a time, each healthy before the next)",
    1,
    None,
    "program",
)
verb("supervisor.signal", "signal", "SIG NAME…", "send a signal to programs", 2, None, "signal")
verb("supervisor.update", "update", "", "reread supervisord's config and apply it", 0, 0)
verb(
    "gunicorn.scale",
    "scale",
    "PROGRAM N|+N|-N",
    "set a gunicorn master's worker count",
    2,
    2,
    "program",
)
verb(
    "gunicorn.reload",
    "reload",
    "PROGRAM",
    "graceful reload (HUP) of a gunicorn master",
    1,
    1,
    "program",
)
verb(
    "ui.nginx",
    "nginx",
    "test|reload|status|diff|rollback",
    "nginx: test the config, reload it, status, diff/roll back to the last good config",
    1,
    1,
    "nginx",
)
verb(
    "ui.logs",
    "logs",
    "NAME…",
    "open the logs of programs (or nginx, supervisord)",
    0,
    None,
    "program",
)
verb("ui.filter", "filter", "TEXT", "filter the program list (empty: clear)", 0, None)
verb("ui.theme", "theme", "NAME", "switch the theme", 1, 1, "theme")
verb("ui.view", "view", "NAME", "show a view", 1, 1, "view")
verb("ui.export", "export", "[PATH]", "write a markdown incident note", 0, 1)
verb("ui.audit", "audit", "", "show the audit trail", 0, 0)
verb("ui.hosts", "hosts", "", "show the hosts (a console of several hosts)", 0, 0)
verb("ui.host", "host", "[NAME|all]", "show only host NAME in every view (all: every host)", 0, 1)
verb("ui.help", "help", "", "keys and commands", 0, 0)
verb("ui.quit", "q", "", "quit", 0, 0)
verb("ui.quit", "quit", "", "quit", 0, 0)
