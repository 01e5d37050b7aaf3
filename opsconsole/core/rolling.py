"""Rolling restarts: one program at a time, the next only once this one is healthy.

Host-agnostic: everything here reads and acts through the :class:`~opsconsole.core.host.Host`
interface (``supervisord()``, ``topology()``, ``probes()``, ``perform()``), so the fleet can
roll across hosts with the same engine.

- :func:`make_plan` turns what the operator named (programs, ``group:*``, ``all``) into a
  :class:`RollPlan`: ordered steps, each with its settle time (the program's ``startsecs``,
  at least :data:`MIN_SETTLE` seconds) and the probes that depend on it (from the topology:
  a probe named after the program, or one whose port leads to it through nginx).
- :class:`RollRunner` carries a plan out, yielding :class:`RollEvent` s (step started,
  running, settling n s, probes green, step healthy, done / failed / cancelled), and ends
  with a :class:`RollOutcome` saying what was done and what was left undone. A step is: one
  ``supervisor.restart`` request through the host (its gate audits it), then the program
  must stay RUNNING with the same pid for the settle time, then its probes must be green.
  The roll stops at the first failure; :meth:`RollRunner.cancel` stops it between steps.
- :func:`run_gated` runs a roll as one operation of the console's gate
  (``supervisor.rolling_restart``): refused in read-only mode, needs the operator's yes,
  one audit record for the roll (error when it stopped, with the reason and what is left).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from opsconsole.core.actions import ActionGate
from opsconsole.core.errors import OpsError
from opsconsole.core.host import (
    Host,
    OperationRequest,
    ProbeOutcome,
    ProbesSnapshot,
    Program,
    Snapshot,
    Supervisord,
    TopologySnapshot,
    TopoNode,
)

#: The operation id of a whole roll (each step is a ``supervisor.restart``).
OPERATION = "supervisor.rolling_restart"
#: A program must stay RUNNING at least this long before the next one is touched.
MIN_SETTLE = 2.0
#: How long a step waits for its probes to turn green.
PROBE_WAIT = 30.0
#: How often the program's state is read while it settles.
POLL = 0.5

DONE, FAILED, CANCELLED = "done", "failed", "cancelled"


class RollError(OpsError):
    """A roll cannot be planned (an unknown program, nothing to restart)."""


class RollStopped(OpsError):
    """A roll stopped before its end (a failure, or the operator cancelled)."""


@dataclass(frozen=True)
class RollStep(Snapshot):
    """Restart ``program`` on ``server``; healthy once RUNNING for ``settle`` seconds with
    ``probes`` green. ``pid`` and ``state`` are what the plan saw."""

    server: str
    program: str
    settle: float
    startsecs: int | None = None
    probes: tuple[str, ...] = ()
    pid: int = 0
    state: str = ""

    @property
    def gate_words(self) -> str:
        """What must hold before the next step, in words."""
        words = f"RUNNING {self.settle:g} s"
        if self.probes:
            words += f" and probe{'s' if len(self.probes) > 1 else ''} {', '.join(self.probes)}"
            words += " green"
        return words


@dataclass(frozen=True)
class RollPlan(Snapshot):
    """The steps of a roll, in order. ``target`` is what the operator named."""

    host: str
    target: str
    steps: tuple[RollStep, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def programs(self) -> tuple[str, ...]:
        return tuple(s.program for s in self.steps)

    @property
    def question(self) -> str:
        """The confirmation's question: every program when they fit on a line (the detail
        lists them all, with what each must pass)."""
        names = ", ".join(self.programs)
        if len(names) > 36:  # the question is one line of the confirmation
            names = f"{self.target} ({len(self.programs)} programs)"
        return f"Restart {names} one at a time?"

    @property
    def detail(self) -> str:
        """Exactly what will happen, step by step (the confirmation's text)."""
        lines = []
        for i, step in enumerate(self.steps, 1):
            now = f"{step.state} pid {step.pid}" if step.pid else step.state or "?"
            lines.append(f"{i}. {step.program} ({now}): must stay {step.gate_words}")
        lines.append(
            "Each program is stopped and started by supervisord; the next one is touched only "
            "once this one passed. Stops at the first failure; cancelling (esc, or ctrl-c "
            "in the CLI) stops it between steps."
        )
        lines += list(self.notes)
        return "\n".join(lines)

    @property
    def summary(self) -> str:
        """The plan on one line (the audit record's detail, a CLI line)."""
        steps = "; ".join(f"{s.program} ({s.gate_words})" for s in self.steps)
        return f"restart one at a time: {steps}; stops at the first failure"


@dataclass(frozen=True)
class RollEvent(Snapshot):
    """One thing that happened during a roll. ``kind``: roll, step, running, settling,
    probes, healthy, done, failed, cancelled. ``index`` counts steps from 1 (0: the roll
    itself); ``left`` names the programs not restarted (on failed / cancelled)."""

    kind: str
    message: str
    at: float
    index: int = 0
    total: int = 0
    program: str = ""
    seconds: float = 0.0
    pid: int = 0
    left: tuple[str, ...] = ()


@dataclass(frozen=True)
class RollOutcome(Snapshot):
    """How a roll ended: ``status`` done, failed or cancelled; ``done`` the programs restarted
    and healthy; ``failed`` the program it stopped at (with ``reason``); ``left`` the
    programs not restarted."""

    status: str
    message: str
    done: tuple[str, ...] = ()
    failed: str = ""
    reason: str = ""
    left: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status == DONE


# --------------------------------------------------------------------------- planning


def select(server: Supervisord, specs: list[str]) -> list[Program]:
    """The programs ``specs`` name on ``server`` (names, ``group:*``, ``all``), each once, in
    the order named (a group or ``all``: supervisord's order). Raises RollError."""
    chosen: dict[str, Program] = {}
    for spec in specs:
        spec = spec.strip()
        if spec == "all":
            found = list(server.programs)
        elif spec.endswith(":*"):
            found = [p for p in server.programs if p.group == spec[:-2]]
        else:
            found = [p for p in server.programs if spec in (p.fullname, p.name)][:1]
        if not found:
            raise RollError(
                f"no program {spec} on supervisord {server.name}",
                "name programs as the programs view shows them, group:* or all",
            )
        for p in found:
            chosen.setdefault(p.fullname, p)
    return list(chosen.values())


def settle_for(program: Program) -> float:
    """The program's ``startsecs``, at least :data:`MIN_SETTLE` seconds."""
    startsecs = program.startsecs
    return max(MIN_SETTLE, float(startsecs)) if startsecs is not None else MIN_SETTLE


_PORT = re.compile(r":(\d{1,5})\b")


def _ports(label: str) -> set[int]:
    return {int(m) for m in _PORT.findall(label)}


def _probe_port(url: str) -> int | None:
    try:
        parts = urlsplit(url)
        return parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None


def dependent_probes(
    program: str, topology: TopologySnapshot | None, probes: tuple[ProbeOutcome, ...]
) -> tuple[str, ...]:
    """The probes that depend on ``program`` (a fullname): one named after it (the probes
    found by listening sockets are), or one whose port is a port of an nginx server or a
    proxy target whose part of the topology leads to the program."""
    ports: set[int] = set()
    if topology is not None:
        mark = f"supervisor program {program}"

        def leads(node: TopoNode) -> bool:
            return any(n.kind == "program" and n.label == mark for n in node.walk())

        for node in topology.topology.walk():
            if node.kind in ("server", "target") and leads(node):
                ports |= _ports(node.label)
    found = []
    for probe in probes:
        named = probe.name == program or probe.name.startswith(program + ":")
        if named or _probe_port(probe.url) in ports:
            found.append(probe.name)
    return tuple(dict.fromkeys(found))


def plan_roll(
    host: str,
    target: str,
    server: Supervisord,
    specs: list[str],
    topology: TopologySnapshot | None = None,
    probes: ProbesSnapshot | None = None,
    notes: tuple[str, ...] = (),
) -> RollPlan:
    """The plan for ``specs`` on ``server`` (pure). Raises RollError."""
    if not server.reachable:
        why = server.error.message if server.error is not None else server.status
        raise RollError(f"supervisord {server.name} cannot be read: {why}", "try again")
    chosen = select(server, specs)
    if not chosen:
        raise RollError("nothing to restart", "name programs, group:* or all")
    outcomes = probes.results if probes is not None else ()
    steps = tuple(
        RollStep(
            server=server.name,
            program=p.fullname,
            settle=settle_for(p),
            startsecs=p.startsecs,
            probes=dependent_probes(p.fullname, topology, outcomes),
            pid=p.pid,
            state=p.state,
        )
        for p in chosen
    )
    extra = list(notes)
    failing = [o.name for o in outcomes if not o.ok]
    needed = {name for s in steps for name in s.probes}
    if needed & set(failing):
        extra.append(
            f"probe(s) failing now: {', '.join(sorted(needed & set(failing)))}: the roll "
            "stops at the first program they depend on unless they recover"
        )
    if any(s.startsecs is None for s in steps):
        extra.append(f"startsecs unknown for some programs: they settle {MIN_SETTLE:g} s")
    return RollPlan(host, target, steps, tuple(extra))


async def make_plan(host: Host, server: str, specs: list[str], target: str = "") -> RollPlan:
    """Read the supervisord, the topology and the probes (at once) through ``host`` and plan
    the roll. A topology that cannot be read leaves only the probes named after the programs
    (said in the plan's notes). Raises RollError, or the host's OpsError for an unknown
    server."""
    snap, topo_read, probes_read = await asyncio.gather(
        host.supervisord(server), host.topology(), host.probes(), return_exceptions=True
    )
    if isinstance(snap, BaseException):
        raise snap
    notes: list[str] = []
    topology: TopologySnapshot | None = None
    if isinstance(topo_read, TopologySnapshot):
        topology = topo_read
    elif isinstance(topo_read, OpsError):
        notes.append(f"no topology ({topo_read.message}): only probes named after a program apply")
    else:
        raise topo_read
    probes: ProbesSnapshot | None = None
    if isinstance(probes_read, ProbesSnapshot):
        probes = probes_read
    elif isinstance(probes_read, OpsError):
        notes.append(f"probes could not be run ({probes_read.message}): no probe gates a step")
    else:
        raise probes_read
    return plan_roll(
        host.name, target or " ".join(specs), snap, specs, topology, probes, tuple(notes)
    )


# --------------------------------------------------------------------------- running


class RollRunner:
    """Carries out a plan through ``host``; iterate :meth:`events`, then read ``outcome``.

    ``probe_wait`` bounds the wait for a step's probes; ``poll`` is how often the program's
    state is read while it settles. :meth:`cancel` (from any task) stops the roll once the
    current step is finished (a program is never left between stop and verification)."""

    def __init__(
        self,
        host: Host,
        plan: RollPlan,
        *,
        probe_wait: float = PROBE_WAIT,
        poll: float = POLL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.host = host
        self.plan = plan
        self.probe_wait = probe_wait
        self.poll = poll
        self.clock = clock
        self.outcome: RollOutcome | None = None
        self._cancel = asyncio.Event()

    def cancel(self) -> None:
        """Stop before the next step (the step under way finishes its checks)."""
        self._cancel.set()

    @property
    def cancelling(self) -> bool:
        return self._cancel.is_set()

    def _event(self, kind: str, message: str, index: int = 0, **kw: Any) -> RollEvent:
        step = self.plan.steps[index - 1] if index else None
        return RollEvent(
            kind,
            message,
            time.time(),
            index,
            len(self.plan.steps),
            step.program if step else "",
            **kw,
        )

    async def events(self) -> AsyncIterator[RollEvent]:
        steps = self.plan.steps
        names = [s.program for s in steps]
        done: list[str] = []
        yield self._event(
            "roll", f"rolling restart of {len(steps)} program(s): {self.plan.summary}"
        )
        for i, step in enumerate(steps, 1):
            if self._cancel.is_set():
                left = tuple(names[i - 1 :])
                message = f"cancelled by the operator; not restarted: {', '.join(left)}"
                self.outcome = RollOutcome(CANCELLED, message, tuple(done), left=left)
                yield self._event("cancelled", message, left=left)
                return
            failure: str | None = None
            async for event in self._step(i, step):
                if event.kind == "failed":
                    failure = event.message
                else:
                    yield event
            if failure is not None:
                left = tuple(names[i:])
                message = f"stopped at {step.program}: {failure}"
                if left:
                    message += f"; not restarted: {', '.join(left)}"
                self.outcome = RollOutcome(
                    FAILED, message, tuple(done), step.program, failure, left
                )
                yield self._event("failed", message, i, left=left)
                return
            done.append(step.program)
        message = (
            f"all {len(steps)} restarted one at a time, each healthy before the next"
            if len(steps) > 1
            else f"{names[0]} restarted and healthy"
        )
        self.outcome = RollOutcome(DONE, message, tuple(done))
        yield self._event("done", message)

    async def _program(self, step: RollStep) -> Program | None:
        snap = await self.host.supervisord(step.server)
        if not snap.reachable:
            why = snap.error.message if snap.error is not None else snap.status
            raise RollStopped(f"supervisord {step.server} cannot be read: {why}")
        return next((p for p in snap.programs if p.fullname == step.program), None)

    async def _step(self, i: int, step: RollStep) -> AsyncIterator[RollEvent]:
        """One step's events; a failure is a ``failed`` event whose message is the reason."""
        n = len(self.plan.steps)
        yield self._event("step", f"{i}/{n} {step.program}: stopping and starting", i)
        request = OperationRequest(
            "supervisor.restart",
            step.program,
            {"server": step.server, "names": [step.program]},
            confirmed=True,
        )
        try:
            result = await self.host.perform(request)
            if not result.ok:
                yield self._event("failed", f"restart {result.outcome}: {result.message}", i)
                return
            program = await self._program(step)
        except OpsError as exc:
            yield self._event("failed", exc.message, i)
            return
        if program is None or program.state != "RUNNING":
            state = program.state if program is not None else "gone"
            yield self._event("failed", f"not RUNNING after the restart: {state}", i)
            return
        pid = program.pid
        yield self._event("running", f"{i}/{n} {step.program}: RUNNING, pid {pid}", i, pid=pid)
        # Settle: RUNNING with the same pid for the whole settle time.
        started = self.clock()
        shown = -1
        while True:
            left = step.settle - (self.clock() - started)
            if left <= 0:
                break
            if int(left + 0.999) != shown:
                shown = int(left + 0.999)
                yield self._event(
                    "settling",
                    f"{i}/{n} {step.program}: settling, {shown} s left",
                    i,
                    seconds=float(shown),
                    pid=pid,
                )
            await asyncio.sleep(min(self.poll, max(left, 0.01)))
            try:
                program = await self._program(step)
            except OpsError as exc:
                yield self._event("failed", exc.message, i)
                return
            if program is None or program.state != "RUNNING" or program.pid != pid:
                yield self._event("failed", _left_running(program, pid, self.clock() - started), i)
                return
        if step.probes:
            yield self._event(
                "probes", f"{i}/{n} {step.program}: waiting for {', '.join(step.probes)}", i
            )
            failing = await self._probes_green(step)
            if failing:
                yield self._event(
                    "failed",
                    f"probes not green within {self.probe_wait:g} s: {'; '.join(failing)}",
                    i,
                )
                return
        yield self._event("healthy", f"{i}/{n} {step.program}: healthy ({step.gate_words})", i)

    async def _probes_green(self, step: RollStep) -> list[str]:
        """Wait until every probe of the step is green; return the failing ones (in words)
        when they are not within ``probe_wait`` seconds."""
        deadline = self.clock() + self.probe_wait
        failing: list[str] = []
        while True:
            try:
                snap = await self.host.probes()
            except OpsError as exc:
                failing = [f"probes could not be run: {exc.message}"]
            else:
                got = {o.name: o for o in snap.results}
                failing = []
                for name in step.probes:
                    o = got.get(name)
                    if o is None:
                        failing.append(f"{name}: no longer probed")
                    elif not o.ok:
                        why = f"HTTP {o.status}" if o.status is not None else o.error or "no answer"
                        failing.append(f"{name}: {why}")
            if not failing or self.clock() >= deadline:
                return failing
            await asyncio.sleep(self.poll)


def _left_running(program: Program | None, pid: int, after: float) -> str:
    if program is None:
        return f"gone from supervisord after {after:.1f} s"
    if program.state == "RUNNING":
        return f"restarted again after {after:.1f} s: pid {pid} → {program.pid}"
    detail = program.spawnerr or program.description
    words = f"left RUNNING after {after:.1f} s: now {program.state}"
    return f"{words} ({detail})" if detail else words


async def run_gated(
    gate: ActionGate,
    runner: RollRunner,
    on_event: Callable[[RollEvent], None],
    *,
    confirmed: bool,
) -> RollOutcome:
    """Run the roll as one operation of ``gate``: refused in read-only mode (ReadOnlyError,
    nothing restarted), ConfirmationRequired without ``confirmed``; audited once (error when
    it stopped, with the reason and what is left). Each event goes to ``on_event``."""
    plan = runner.plan
    servers = sorted({s.server for s in plan.steps})

    async def body() -> RollOutcome:
        async for event in runner.events():
            on_event(event)
        outcome = runner.outcome
        assert outcome is not None
        if not outcome.ok:
            hint = (
                "roll again for what is left when ready"
                if outcome.status == CANCELLED
                else f"look at the log of {outcome.failed}; the programs after it were not touched"
            )
            raise RollStopped(outcome.message, hint)
        return outcome

    try:
        return await gate.run(
            OPERATION,
            plan.target,
            body,
            params={"server": ",".join(servers), "programs": list(plan.programs)},
            confirmed=confirmed,
        )
    except RollStopped:
        assert runner.outcome is not None
        return runner.outcome
