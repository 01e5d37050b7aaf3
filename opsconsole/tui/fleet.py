"""Several hosts in one console (``--host A --host B``, ``[[host]]`` entries, ``demo --hosts``).

The session of a fleet (:class:`Fleet`) holds one :class:`HostState` per host: its latest
programs, probes, gunicorn and nginx, and when it last answered with current data. Each host
has its own refresh tasks with their own timeouts, so one slow, hung or unreachable host never
delays another host or a key press; a host that has not answered for a while is **stale**: its
rows stay on screen, dimmed and marked with the age of their data, never shown as current.
A remote host's reconnection and backoff are its RemoteHost's own (core.remote), and its
programs are not read every refresh: its agent pushes what changed (tui.fleet_push).

The views keep reading one host, ``session.machine``: for a fleet that is a :class:`FleetHost`
(the Host protocol over the hosts). It names each supervisord after its host (``host1``, or
``host1:NAME`` when a host has several), so that the program list, the timeline and the
operations of the session need not know about hosts: a request for ``host2``'s supervisord
goes to host2. What has no supervisord in it (gunicorn, nginx, topology) goes to the host
the console is narrowed to (``enter`` in the hosts view, ``:host NAME``), else the first.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.message import Message

from opsconsole.core.actions import ActionGate
from opsconsole.core.config import AppConfig
from opsconsole.core.errors import OpsError
from opsconsole.core.host import (
    GunicornSnapshot,
    Host,
    HostError,
    HostNotResponding,
    NginxSnapshot,
    ProbeOutcome,
    ProbesSnapshot,
    ProgramsSnapshot,
    Supervisord,
)
from opsconsole.core.logs import LogSource
from opsconsole.tui.fleet_host import FleetHost
from opsconsole.tui.fleet_logs import log_servers as log_servers
from opsconsole.tui.fleet_push import HEARTBEAT, extras_loop, pushed_programs, pushes
from opsconsole.tui.fleet_rows import _dim, same_shown

if TYPE_CHECKING:
    from opsconsole.tui.session import Session

#: the hosts view's tab (shown only on a console of several hosts)
HOSTS_VIEW = ("hosts", "6 Hosts")

#: the program list's CPU% and RSS columns: a console of several hosts leaves them out (only
#: this machine's pids are sampled)
USAGE_COLUMNS = ("cpu", "rss")


def stale_after(refresh: float) -> float:
    """Data older than this (seconds) is stale: a host missed about two refreshes."""
    return max(3.0, 2 * refresh + 1.0)


@dataclass
class HostState:
    """What the console knows of one host, and how old it is."""

    name: str
    host: Host
    programs: ProgramsSnapshot | None = None
    #: when the host last answered with current programs (epoch seconds)
    fresh_at: float | None = None
    #: why the last read failed or came back stale, in words ("" when it did not)
    error: str = ""
    probes: ProbesSnapshot | None = None
    #: for the hosts view: a summary (no workers) from an agent that pushes it
    gunicorn: GunicornSnapshot | None = None
    gunicorn_error: str = ""
    #: for the hosts view: a summary (no workers, no stub_status) from an agent that pushes it
    nginx: NginxSnapshot | None = None
    nginx_error: str = ""
    #: composite supervisord name (as the views show it) -> the host's own name for it
    servers: dict[str, str] = field(default_factory=dict)
    polled: bool = False
    link_seen: str = ""
    #: when the read now waiting for the host's answer was sent (None: none is waiting)
    asked_at: float | None = None
    #: the host's own supervisord name -> (its programs as answered, as the console names them)
    renamed: dict[str, tuple[tuple[Any, ...], tuple[Any, ...]]] = field(default_factory=dict)
    #: the host's clock minus the console's, as of its last current answer (seconds)
    skew: float = 0.0
    #: a host that pushes its programs: when its subscription was last heard from (epoch),
    #: how long it may be silent, and what wakes its loop once it was (Fleet._tick)
    silence: tuple[Callable[[], float | None], float, Callable[[], None]] | None = None

    def age(self) -> float | None:
        return None if self.fresh_at is None else max(0.0, time.time() - self.fresh_at)

    def clock(self, refresh: float) -> float | None:
        """The host's clock now (its programs' uptimes are shown at it), or when its data was
        last current if it is stale (an old uptime is not shown as growing); None before
        its first answer."""
        if self.fresh_at is None:
            return None
        return (self.fresh_at if self.stale(refresh) else time.time()) + self.skew

    def link(self) -> Any:
        """The RemoteHost's link (None for this machine)."""
        return getattr(self.host, "link", None)

    def stale(self, refresh: float) -> bool:
        """True when what is shown of this host is not current: the link says so, or the
        data is old AND the host is to blame (its last read failed, or the read sent to it
        has waited for its answer too long). Data that is old only because the console
        itself asked late (its event loop busy) is not the host's staleness."""
        link = self.link()
        if link is not None and link.state in ("stale", "down") and self.programs is not None:
            return True
        age = self.age()
        if self.programs is not None and age is None:
            return True
        if age is None or age <= stale_after(refresh):
            return False
        if self.error:
            return True
        waited = None if self.asked_at is None else time.time() - self.asked_at
        return waited is not None and waited > stale_after(refresh) - refresh

    def state_word(self, refresh: float) -> str:
        """``up``, ``connecting``, ``stale 12s`` or ``down`` (the short form for a column)."""
        link = self.link()
        if link is not None and link.state == "down":
            return "down"
        if self.stale(refresh):
            age = self.age()
            return f"stale {age:.0f}s" if age is not None else "stale"
        if self.programs is None:
            return "down" if self.error else "connecting"
        return "up"

    def words(self, refresh: float) -> str:
        """The link in full words, with the reason when it is not up."""
        word = self.state_word(refresh)
        link = self.link()
        reason = link.reason if link is not None and link.reason else self.error
        if word == "up":
            if link is not None and link.rtt is not None:
                return f"up, round trip {link.rtt * 1000:.0f} ms"
            return "up (this machine)" if link is None else "up"
        if word.startswith("stale"):
            why = reason or "no answer"
            return f"{word}: {why}; the programs shown are from {self.age() or 0:.0f}s ago"
        return f"{word}: {reason}" if reason else word

    def rtt(self) -> str:
        link = self.link()
        if link is None:
            return "local"
        return f"{link.rtt * 1000:.0f}ms" if link.rtt is not None else "-"

    def agent(self) -> str:
        link = self.link()
        if link is None:
            return "local"
        return link.agent_version or "-"

    def program_counts(self) -> str:
        """``5/6 run 1 FATAL``: running of all, and the worst other state."""
        if self.programs is None:
            return "-"
        procs = self.programs.programs
        counts = Counter(p.statename for p in procs)
        text = f"{counts.pop('RUNNING', 0)}/{len(procs)} run"
        for state in ("FATAL", "BACKOFF", "EXITED", "STOPPED", "STARTING", "STOPPING"):
            if counts.get(state):
                text += f" {counts[state]} {state}"
                break
        return text

    def workers(self) -> str:
        """Gunicorn workers live/target over every master (``-`` when none)."""
        if self.gunicorn is None:
            return "?" if self.gunicorn_error else "-"
        masters = self.gunicorn.masters
        if not masters:
            return "-"
        live = sum(m.live for m in masters)
        target = sum(m.target if m.target is not None else m.live for m in masters)
        return f"{live}/{target}"

    def nginx_word(self) -> str:
        if self.nginx_error:
            return "failing"
        if self.nginx is None:
            return "-"
        if not self.nginx.running:
            return "off"
        failing = [
            o for o in (self.probes.results if self.probes else ()) if _nginx_probe(o) and not o.ok
        ]
        return "failing" if failing else "ok"

    def probe_counts(self) -> str:
        if self.probes is None:
            return "-"
        results = self.probes.results
        return f"{sum(1 for o in results if o.ok)}/{len(results)}"


def _nginx_probe(outcome: ProbeOutcome) -> bool:
    return outcome.name.split(":")[0] == "nginx"


def server_name(host: str, raw: str, count: int) -> str:
    """How a host's supervisord is named in the console: the host's name when it has one,
    ``host:NAME`` when it has several."""
    return host if count == 1 else f"{host}:{raw}"


class Fleet:
    """The hosts of one console, their refresh tasks and the narrowing (see the module)."""

    def __init__(self, hosts: Sequence[tuple[str, Host]], refresh: float, timeout: float) -> None:
        self.states: dict[str, HostState] = {name: HostState(name, host) for name, host in hosts}
        #: supervisord name (as the views show it) -> the host that runs it (Fleet.clock)
        self._owners: dict[str, HostState] = {}
        self.refresh = refresh
        self.timeout = timeout
        #: the host every view is narrowed to (None: every host)
        self.narrowed: str | None = None
        #: the last step of an action across hosts (tui.fleet_ops), for the hosts view
        self.progress = ""
        self.machine = FleetHost(self)
        self._wake: dict[str, asyncio.Event] = {}
        self._session: Session | None = None
        #: row key -> (the view's cells, what was added, the cells shown)
        self._cells: dict[str, tuple[tuple[Any, ...], tuple[Any, ...], tuple[Any, ...]]] = {}
        #: the one redraw scheduled for every host that changed since the last (see _changed)
        self._redraw: asyncio.TimerHandle | None = None
        self._drawn_at = -math.inf
        #: redraws of the program list asked for by the hosts (and how many were drawn)
        self.changes = self.redraws = 0
        self._logs: tuple[tuple[Any, ...], tuple[Any, ...]] | None = None
        self._log_names: dict[int, tuple[tuple[Any, ...], tuple[Any, ...]]] = {}

    @property
    def several(self) -> bool:
        return len(self.states) > 1

    @property
    def names(self) -> list[str]:
        return list(self.states)

    def focus(self) -> HostState:
        """The host the views without supervisords read: the narrowed one, else the first."""
        name = self.narrowed or next(iter(self.states))
        return self.states[name]

    def route(self, server: str) -> tuple[HostState, str]:
        """The host of a supervisord as the console names it, and the host's own name for it."""
        for state in self.states.values():
            if server in state.servers:
                return state, state.servers[server]
        host, _, raw = server.partition(":")
        found = self.states.get(host)
        if found is None:
            raise OpsError(
                f"no host runs a supervisord named {server!r}", "hosts: " + ", ".join(self.states)
            )
        return found, raw or next(iter(found.servers.values()), raw)

    def host_of(self, server: str) -> str:
        for state in self.states.values():
            if server in state.servers:
                return state.name
        return server.partition(":")[0]

    def shown(self, servers: Sequence[Supervisord]) -> list[Supervisord]:
        """The supervisords the views show: those of the narrowed host, or all, in the
        order of the hosts (as configured: not the order they first answered in)."""
        names = self.names
        hosts = [(self.host_of(s.name), s) for s in servers]
        if self.narrowed is not None:
            hosts = [(h, s) for h, s in hosts if h == self.narrowed]
        ordered = sorted(
            enumerate(hosts), key=lambda x: (names.index(x[1][0]) if x[1][0] in names else 0, x[0])
        )
        return [s for _, (_, s) in ordered]

    def narrow(self, name: str | None) -> str:
        """Narrow every view to host ``name`` (None, ``all`` or "": every host again); the
        words to say. Raises OpsError for a host that is not in the console."""
        if name in (None, "", "all"):
            self.narrowed = None
            return f"every host ({len(self.states)})"
        if name not in self.states:
            raise OpsError(f"no host {name!r} in this console", "hosts: " + ", ".join(self.states))
        self.narrowed = name
        return f"host {name} only (:host all shows every host)"

    def title(self) -> str:
        """What the status line calls the console's hosts."""
        if self.narrowed is not None:
            return f"{self.narrowed} (1 of {len(self.states)} hosts)"
        return f"{len(self.states)} hosts"

    # -- refresh -----------------------------------------------------------------------

    def start(self, session: Session) -> None:
        """One programs loop and one loop for the rest per host, as the app's workers."""
        self._session = session
        for state in self.states.values():
            self._wake[state.name] = asyncio.Event()
            session.ui.run_worker(
                self._programs_loop(state), group="poll", name=f"host-{state.name}"
            )
            session.ui.run_worker(
                extras_loop(self, state), group="poll", name=f"extras-{state.name}"
            )
        session.ui.run_worker(self._tick(), group="poll", name="fleet-tick")

    def poll_now(self) -> None:
        for event in self._wake.values():
            event.set()

    def _budget(self, state: HostState) -> float:
        """At most how long one read of this host may take before it is given up (the host's
        own timeout, when it has one, and a little more)."""
        own = getattr(state.host, "timeout", None)
        return (float(own) if isinstance(own, int | float) else self.timeout) + 2.0

    async def _programs_loop(self, state: HostState) -> None:
        session = self._session
        assert session is not None
        if pushes(state.host):  # its agent pushes what changed (tui.fleet_push)
            await pushed_programs(self, state, stale_after(max(self.refresh, HEARTBEAT)))
            return
        while True:
            state.asked_at = time.time()
            try:
                snap = await asyncio.wait_for(state.host.programs(), self._budget(state))
            except asyncio.TimeoutError:
                self._not_answered(
                    state, f"{state.name} did not answer within {self._budget(state):g} s"
                )
            except OpsError as exc:
                self._not_answered(state, exc.message)
            except Exception as exc:  # keep watching: an incident console must not go blind
                session.timeline.add("host", "error", state.name, f"refresh failed: {exc!r}")
            else:
                self._take(state, snap, state.asked_at)
            state.asked_at = None
            state.polled = True
            if all(s.polled for s in self.states.values()):
                session.first_poll.set()
            self._say_link(state)
            wake = self._wake[state.name]
            try:
                await asyncio.wait_for(wake.wait(), timeout=self.refresh)
            except asyncio.TimeoutError:
                pass
            wake.clear()

    def _take(self, state: HostState, snap: ProgramsSnapshot, asked: float | None) -> None:
        """Keep a host's programs: each supervisord renamed after the host, fresh or stale.
        Fresh as of when the host answered: the arrival, never later than the snapshot's own
        time plus the round trip (a console whose loop handled the answer late does not age
        the host's data by its own lateness). A supervisord whose programs are the very
        tuple of its last answer keeps the renamed tuple too (the views skip it)."""
        session = self._session
        assert session is not None
        arrived = time.time()
        if snap is state.programs and not state.error:  # pushed again, unchanged: fresh
            state.fresh_at = arrived
            return
        stale = [s for s in snap.servers if s.stale or (not s.reachable and s.error is not None)]
        if any(s.stale for s in snap.servers):
            first = next(s for s in snap.servers if s.stale)
            state.error = first.error.message if first.error is not None else first.status
        else:
            state.fresh_at = arrived if asked is None else max(asked, min(arrived, snap.at))
            state.skew = snap.at - arrived
            state.error = stale[0].error.message if stale and stale[0].error else ""
        state.programs = snap
        remote = state.link() is not None
        count = len(snap.servers)
        names: dict[str, str] = {}
        renamed: dict[str, tuple[tuple[Any, ...], tuple[Any, ...]]] = {}
        changed = False
        for server in snap.servers:
            name = server_name(state.name, server.name, count)
            names[name] = server.name
            kept = state.renamed.get(server.name)
            if kept is not None and same_shown(kept[0], server.programs):
                raw, programs = kept  # nothing shown moved: the programs the views have
            else:
                raw = server.programs
                # a program that is the same object as in the last answer keeps its renamed
                # copy (at a minute's turn every uptime moves, but not all in one push)
                was = (
                    {id(a): b for a, b in zip(kept[0], kept[1], strict=True)}
                    if kept is not None and kept[1] and kept[1][0].server == name
                    else {}
                )
                programs = tuple(was.get(id(p)) or replace(p, server=name) for p in raw)
            renamed[server.name] = (raw, programs)
            shown = replace(server, name=name, local=server.local and not remote, programs=programs)
            before = session.servers.get(name)
            if (
                before is not None
                and before.programs is programs
                and (before.status, before.pid, before.stale, before.error)
                == (shown.status, shown.pid, shown.stale, shown.error)
            ):
                session.servers[name] = shown  # nothing for the timeline nor the screen
            else:
                session._observe(shown)
                changed = True
        state.renamed = renamed
        for gone in set(state.servers) - set(names):
            session.servers.pop(gone, None)
            changed = True
        state.servers = names
        if changed:
            self._changed()

    def _changed(self) -> None:
        """Some host's programs changed: ONE redraw of the program list for every host that
        changed since the last, at most one per refresh interval (ten hosts answering at
        their own times are drawn together, not ten times a refresh)."""
        self.changes += 1
        if self._redraw is not None:
            return
        loop = asyncio.get_running_loop()
        gap = min(max(self.refresh, 0.25), 2.0)
        wait = max(0.0, self._drawn_at + gap - loop.time())
        self._redraw = loop.call_later(wait, self._draw)

    def _draw(self) -> None:
        self._redraw = None
        self._drawn_at = asyncio.get_running_loop().time()
        self.redraws += 1
        if self._session is not None:
            self._session.ui.post_message(_refreshed())

    def _not_answered(self, state: HostState, why: str) -> None:
        """The host did not answer: its supervisords stay on screen, marked stale."""
        session = self._session
        assert session is not None
        state.error = why
        error = HostError.of(HostNotResponding(why, "it is asked again by itself"))
        for name in state.servers:
            snap = session.servers.get(name)
            if snap is not None and not snap.stale:
                session.servers[name] = replace(
                    snap, stale=True, status="not responding", error=error
                )
                self._changed()

    def _say_link(self, state: HostState) -> None:
        """Put a change of the host's link (up, stale, down) on the timeline."""
        session = self._session
        assert session is not None
        word = state.state_word(self.refresh).split(" ")[0]
        if word == state.link_seen or word == "connecting":
            return
        before, state.link_seen = state.link_seen, word
        if word == "up":
            if before:
                session.timeline.add("host", "info", state.name, "host answers again")
            return
        level = "error" if word == "down" else "warning"
        session.timeline.add("host", level, state.name, state.words(self.refresh))

    async def _tick(self) -> None:
        """While a host is stale its age moves on screen (once a second), and its link's
        changes reach the timeline even while its read is still pending."""
        session = self._session
        assert session is not None
        while True:
            await asyncio.sleep(1.0)
            now = time.time()
            for state in self.states.values():  # a pushing host silent too long: look at it
                if state.silence is not None:
                    heard, allowed, wake = state.silence
                    if now - (heard() or now) >= allowed:
                        wake()
            stale = [s for s in self.states.values() if s.stale(self.refresh)]
            for state in self.states.values():
                self._say_link(state)
            for state in stale:
                self._not_answered(state, state.error or f"no answer for {state.age() or 0:.0f}s")
            if stale:
                self._changed()

    # -- for the session (it imports nothing of the TUI's) --------------------------------

    def keys_for(self, specs: list[str], servers: dict[str, Supervisord]) -> list[str] | None:
        """``:restart NAME…`` on several hosts: the ``server/spec`` keys of every host (the
        narrowed one only when narrowed) that runs them; None on one host."""
        if not self.several:
            return None
        keys = []
        for server in self.shown(list(servers.values())):
            for spec in specs:
                group = spec.removesuffix(":*")
                runs = spec == "all" or any(
                    p.fullname == spec or p.name == spec or p.group == group
                    for p in server.programs
                )
                if runs:
                    keys.append(f"{server.name}/{spec}")
        return keys or None

    def merged_logs(self, session: Session, names: list[str]) -> list[LogSource] | None:
        """``:logs NAME`` on several hosts: each stream merged over the hosts (tui.fleet_logs)."""
        from opsconsole.tui.fleet_logs import merged_logs

        return merged_logs(session, names)

    # -- the program list ---------------------------------------------------------------

    def columns(
        self, columns: list[tuple[str, str, int | None]]
    ) -> list[tuple[str, str, int | None]]:
        """The program list's columns: a HOST column first when there are several hosts."""
        if not self.several:
            return columns
        # CPU and memory are sampled only for this machine's pids: not for a fleet's
        return [("host", "Host", 7), *(c for c in columns if c[0] not in USAGE_COLUMNS)]

    def decorate(self, rows: list[Any], theme_dim: str = "dim") -> list[Any]:
        """The program list's rows with the HOST cell, and a stale host's rows dimmed with
        ``stale 12s`` in their info cell (never shown as current)."""
        if not self.several:
            return rows
        from opsconsole.tui.widgets.program_rows import Row

        # once per host and supervisord, not once per row (3000 rows on ten hosts)
        words = dict(self.marks())
        hosts: dict[str, tuple[str, str]] = {}
        out = []
        for row in rows:
            extra = hosts.get(row.server)
            if extra is None:
                host = self.host_of(row.server) if row.server else ""
                extra = hosts[row.server] = (host, words.get(host, ""))
            cells = self._decorated(row.key, row.cells, extra)
            out.append(Row(row.key, cells, row.proc, row.group, row.server))
        if len(self._cells) > 2 * len(out) + 64:
            keys = {r.key for r in out}
            self._cells = {k: v for k, v in self._cells.items() if k in keys}
        return out

    def marks(self) -> tuple[tuple[str, str], ...]:
        """Each host's mark on its rows: ``stale 12s`` or ``down`` when what is shown of it
        is not current, else "" (the rows are drawn again when one changes)."""
        if not self.several:
            return ()
        return tuple(
            (name, state.state_word(self.refresh) if state.stale(self.refresh) else "")
            for name, state in self.states.items()
        )

    def clock(self, server: str) -> float | None:
        """The clock of the host of supervisord ``server`` (see :meth:`HostState.clock`)."""
        owner = self._owners.get(server)
        if owner is None or server not in owner.servers:  # the hosts' supervisords moved
            self._owners = {n: st for st in self.states.values() for n in st.servers}
            owner = self._owners.get(server)
        return owner.clock(self.refresh) if owner is not None else None

    def decorate_cells(self, key: str, server: str, cells: tuple[Any, ...]) -> tuple[Any, ...]:
        """One row's cells as :meth:`decorate` shows them (a row changed in place)."""
        if not self.several:
            return cells
        host = self.host_of(server) if server else ""
        return self._decorated(key, cells, (host, dict(self.marks()).get(host, "")))

    def _decorated(
        self, key: str, cells: tuple[Any, ...], extra: tuple[str, str]
    ) -> tuple[Any, ...]:
        cached = self._cells.get(key)
        if cached is not None and cached[0] is cells and cached[1] == extra:
            return cached[2]
        from opsconsole.tui.widgets.program_rows import COLUMNS

        usage = {i for i, c in enumerate(COLUMNS) if c[0] in USAGE_COLUMNS}
        host, word = extra
        inner = tuple(c for i, c in enumerate(cells) if i not in usage)
        if word:
            inner = (*tuple(_dim(c) for c in inner[:-1]), Text(word, style="bold dim"))
        shown = (Text(host, style="dim" if word else ""), *inner)
        self._cells[key] = (cells, extra, shown)
        return shown


def _refreshed() -> Message:
    from opsconsole.tui.session import SessionRefreshed

    return SessionRefreshed()


def attach_fleet(session: Session) -> None:
    """Give the session its fleet when its config names hosts: the views then read and act
    through the fleet's host, and the session's supervisords are the hosts'."""
    if not session.config.hosts:
        return
    fleet = open_fleet(session.config, session.gate)
    session.fleet = fleet
    session.machine = fleet.machine
    session.servers.clear()


def open_fleet(config: AppConfig, gate: ActionGate) -> Fleet:
    """The fleet of ``config.hosts``, each host opened as the CLI opens it (cli.hosts),
    acting through the console's gate (its audit trail and timeline name the host)."""
    from opsconsole.cli.hosts import open_one

    hosts = [(s.name, open_one(config, s, gate=gate)) for s in config.hosts]
    return Fleet(hosts, config.refresh, config.timeout)


def shown_servers(session: Session) -> list[Supervisord]:
    """The supervisords the views show (those of the host the console is narrowed to)."""
    servers = list(session.servers.values())
    fleet = session.fleet
    return fleet.shown(servers) if fleet is not None else servers


#: the views that show one host of several (the focused one): their tab names it
ONE_HOST_VIEWS = ("gunicorn", "nginx")


def fleet_views(session: Session, views: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The console's tabs: on several hosts, the gunicorn and nginx tabs name the host they
    show (the narrowed one, else the first) and a hosts view is added."""
    fleet = session.fleet
    if fleet is None or not fleet.several:
        return views
    return [(v, tab_label(fleet, v, label)) for v, label in views] + [HOSTS_VIEW]


def tab_label(fleet: Fleet, view: str, label: str) -> str:
    if view not in ONE_HOST_VIEWS:
        return label
    name = fleet.focus().name
    return f"{label} {name if len(name) <= 10 else name[:9] + '…'}"


def host_command(app: Any, name: str, args: Sequence[str]) -> None:
    """``:hosts`` (the hosts view) and ``:host [NAME|all]`` (narrow every view to one host,
    or widen again); the status line says what is shown."""
    from textual.widgets import Tab

    from opsconsole.tui.app import VIEWS
    from opsconsole.tui.widgets.statusbar import StatusBar

    fleet = app.session.fleet
    if fleet is None or not fleet.several:
        app.notify("this console shows one host (open it with --host A --host B)")
        return
    if name == "hosts":
        app.action_view("hosts")
        return
    try:
        words = fleet.narrow(args[0] if args else None)
    except OpsError as exc:
        app.notify(f"{exc.message}\n{exc.hint}", title="Host", severity="error")
        return
    app.notify(f"showing {words}", title="Host", timeout=3)
    try:
        app.main.query_one(StatusBar).host = fleet.title()
        labels = dict(VIEWS)
        for view in ONE_HOST_VIEWS:
            app.main.query_one(f"#tab-{view}", Tab).label = tab_label(fleet, view, labels[view])
    except Exception:  # the console is shutting down
        return
    app.session.poll_now()
    app.refresh_header()


def on_several(session: Session, fn: Callable[[Fleet], Any]) -> Any:
    """``fn(fleet)`` when the session has several hosts, else None."""
    fleet = getattr(session, "fleet", None)
    return fn(fleet) if fleet is not None and fleet.several else None
