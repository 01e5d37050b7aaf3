"""A remote host's programs, probes, gunicorn and nginx as its agent pushes them (one
subscription a topic and host).

The agent reads its own supervisord every refresh interval and sends only what changed
(core.agent, core.host.steady: at idle, the snapshot's time, every :data:`HEARTBEAT`
seconds); the console rebuilds the snapshot from the changes, keeps the Program objects of
what did not change, and the fleet (tui.fleet) takes it as it takes a polled answer. Nothing
is asked of the host every second. An idle push (the very supervisords of the value taken)
only makes the host fresh, from the link's reader: the programs loop is not woken for it.

While no push comes (the link dropped, the agent's read hangs) the host is marked stale
with the link's reason once it was silent :func:`~opsconsole.tui.fleet.stale_after` the
heartbeat;
the link reconnects and subscribes again by itself with a bounded backoff (core.remote). A
subscription whose pushes stopped while its link stayed up is started again, at most once
every :data:`RESTART_AFTER` seconds (doubling to :data:`RESTART_MAX`). Probes, gunicorn
and nginx are pushed the same way, at their own intervals (:func:`pushed_extras`), or asked
for from a host that does not push (:func:`extras_loop`).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from opsconsole.core.errors import OpsError

if TYPE_CHECKING:
    from opsconsole.tui.fleet import Fleet, HostState

#: a subscription silent this long while its link is up is started again (then twice as
#: long, up to RESTART_MAX)
RESTART_AFTER = 30.0
RESTART_MAX = 300.0
#: how long a host whose push is due is given once the console's loop is free again
GRACE = 0.2
#: an idle host (nothing shown moved) pushes its programs this often at least (its proof
#: of life: a host silent for stale_after(HEARTBEAT) seconds is marked stale)
HEARTBEAT = 2.0
#: probes, gunicorn and nginx that did not change are pushed again this often (nothing is
#: marked stale by their silence: the programs' heartbeat proves the host alive)
EXTRAS_HEARTBEAT = 60.0
#: probes, gunicorn and nginx of each host are read this often (seconds)
EXTRAS_EVERY = 5.0
PROBES_EVERY = 2.0


def pushes(host: Any) -> bool:
    """Whether ``host`` pushes its programs (a RemoteHost)."""
    return callable(getattr(host, "subscribe", None))


async def pushed_programs(fleet: Fleet, state: HostState, stale_after: float) -> None:
    """The programs loop of a host that pushes them (see the module)."""
    session = fleet._session
    assert session is not None
    heard = Wakeup()
    state.asked_at = started = time.time()
    sub = await subscribed(state, "programs", fleet.refresh, max(fleet.refresh, HEARTBEAT))

    news = False  # a push with something to take came since the loop last looked

    def pushed(sub: Any) -> None:
        nonlocal news
        value, taken = sub.value, state.programs
        if (
            value is not None
            and taken is not None
            and value.servers is taken.servers  # an idle push: nothing moved but its time
            and sub.error is None
            and not state.error
        ):
            state.fresh_at = sub.updated  # the host is alive; there is nothing to take
            return
        if sub.error is None and value is not None:  # a push (not the agent's read failing)
            news = True
        heard.set()

    sub.listeners.append(pushed)
    if sub.value is not None:  # its first push came with the subscribe answer
        news = True
        heard.set()
    links = getattr(state.host, "listeners", None)
    if isinstance(links, list):  # a link that drops or comes back is looked at at once
        links.append(lambda _link: heard.set())
    # once it pushed, the fleet's tick (once a second for every host) wakes this loop when
    # the subscription was silent for stale_after: no timer a host at idle
    state.silence = (lambda: sub.updated, stale_after, heard.set)
    seen: float | None = None
    restart_after = RESTART_AFTER
    while True:
        woke = await heard.wait(stale_after if seen is None else RESTART_AFTER)
        heard_lately = seen is not None and time.time() - sub.updated < stale_after
        if not woke and sub.error is None and heard_lately:
            continue  # idle pushes came (they only make it fresh, see pushed)
        if not news and sub.error is None:
            # woken by silence (a timeout, the fleet's tick) or the link: a push that waited
            # behind the console's own work (its loop busy) is taken before the host is
            # called silent: the console's lateness is not the host's
            await asyncio.sleep(GRACE)
        heard.clear()
        try:
            if news and sub.value is not None:
                news = False
                seen = sub.updated
                restart_after = RESTART_AFTER
                fleet._take(state, sub.value, None)  # type: ignore[arg-type]
            elif sub.error is not None:  # the agent's read failed: what is shown is old
                fleet._not_answered(state, sub.error.message)
            else:  # woken by the link, the fleet's tick or a timeout: silent since its last push
                link = state.link()
                silent = time.time() - (sub.updated or started)
                if link is not None and link.state not in ("up", "connecting") and link.reason:
                    why = link.reason
                else:
                    why = f"{state.name} sent nothing for {silent:.0f}s"
                # before its first push a host has its connection's time (ssh, the agent's
                # start, its first read): it is not silent, it is connecting
                down = link is not None and link.state == "down"  # it could not connect
                if down or silent > (stale_after if seen is not None else fleet._budget(state)):
                    fleet._not_answered(state, why)
                if link is not None and link.state == "up" and silent > restart_after:
                    sub.restart()
                    restart_after = min(restart_after * 2, RESTART_MAX)
        except OpsError as exc:
            fleet._not_answered(state, exc.message)
        except Exception as exc:  # keep watching: an incident console must not go blind
            session.timeline.add("host", "error", state.name, f"refresh failed: {exc!r}")
        state.asked_at = None
        state.polled = True
        if all(s.polled for s in fleet.states.values()):
            session.first_poll.set()
        fleet._say_link(state)


class Wakeup:
    """An asyncio.Event whose wait gives up after a timeout, for a loop that wakes every few
    seconds per host: ``asyncio.wait_for(event.wait(), t)`` makes a task, a timer and, when
    it times out, a cancellation each time; this makes one future and one timer."""

    def __init__(self) -> None:
        self._set = False
        self._waiter: asyncio.Future[bool] | None = None

    def set(self) -> None:
        self._set = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(True)

    def clear(self) -> None:
        self._set = False

    def is_set(self) -> bool:
        return self._set

    async def wait(self, timeout: float) -> bool:
        """True once set (at once if it is), False after ``timeout`` seconds."""
        if self._set:
            return True
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        timer = loop.call_later(timeout, _settle, waiter)
        self._waiter = waiter
        try:
            return await waiter
        finally:
            timer.cancel()
            if self._waiter is waiter:
                self._waiter = None


def _settle(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


async def subscribed(
    state: HostState, topic: str, interval: float, heartbeat: float, *, summary: bool = False
) -> Any:
    """The host's subscription to ``topic``; one its agent refused or did not answer is
    asked for again (after 1 s, doubling to RESTART_AFTER) until it is made."""
    host: Any = state.host  # a RemoteHost (pushes)
    wait = 1.0
    while True:
        try:
            return await host.subscribe(
                topic, interval=interval, heartbeat=heartbeat, summary=summary
            )
        except OpsError:
            await asyncio.sleep(wait)
            wait = min(wait * 2, RESTART_AFTER)


async def pushed_extras(state: HostState) -> None:
    """Probes, gunicorn and nginx of a host that pushes them: one subscription each (probes
    every PROBES_EVERY seconds, the others every EXTRAS_EVERY), read by the agent on the
    host and sent when they change (gunicorn and nginx as summaries: what the hosts view
    shows); nothing is asked of the host. What a failed read leaves
    is as with a polled host: the last probes, the gunicorn error beside the last masters,
    no nginx and its error."""

    def probes(sub: Any) -> None:
        if sub.error is None and sub.value is not None:
            state.probes = sub.value

    def gunicorn(sub: Any) -> None:
        if sub.error is not None:
            state.gunicorn_error = sub.error.message
        elif sub.value is not None:
            state.gunicorn, state.gunicorn_error = sub.value, ""

    def nginx(sub: Any) -> None:
        if sub.error is not None:
            state.nginx, state.nginx_error = None, sub.error.message
        elif sub.value is not None:
            state.nginx, state.nginx_error = sub.value, ""

    for topic, interval, take in (
        ("probes", PROBES_EVERY, probes),
        ("gunicorn", EXTRAS_EVERY, gunicorn),
        ("nginx", EXTRAS_EVERY, nginx),
    ):
        # gunicorn and nginx: what the hosts view shows (worker counts, nginx up), not every
        # worker's age and CPU (the views read the focused host's whole snapshot themselves)
        summary = topic != "probes"
        sub = await subscribed(state, topic, interval, EXTRAS_HEARTBEAT, summary=summary)
        sub.listeners.append(take)
        take(sub)


async def extras_loop(fleet: Fleet, state: HostState) -> None:
    """Probes every PROBES_EVERY seconds, gunicorn and nginx every EXTRAS_EVERY, each
    read with the host's budget (a hung host holds only this loop); a host whose agent
    pushes them is subscribed to them instead."""
    session = fleet._session
    assert session is not None
    try:
        await asyncio.wait_for(session.first_poll.wait(), timeout=fleet.timeout + 5)
    except asyncio.TimeoutError:
        pass
    if pushes(state.host):  # its agent pushes them too (tui.fleet_push)
        await pushed_extras(state)
        return
    extras_at = 0.0
    while True:
        budget = fleet._budget(state)
        try:
            state.probes = await asyncio.wait_for(state.host.probes(), budget)
        except (OpsError, asyncio.TimeoutError):
            pass
        except Exception as exc:
            session.timeline.add("host", "error", state.name, f"probes failed: {exc!r}")
        if time.monotonic() - extras_at >= EXTRAS_EVERY:
            extras_at = time.monotonic()
            try:
                state.gunicorn = await asyncio.wait_for(state.host.gunicorn(), budget)
                state.gunicorn_error = ""
            except OpsError as exc:
                state.gunicorn_error = exc.message
            except asyncio.TimeoutError:
                pass
            except Exception as exc:
                state.gunicorn_error = repr(exc)
            try:
                state.nginx = await asyncio.wait_for(state.host.nginx(), budget)
                state.nginx_error = ""
            except OpsError as exc:
                state.nginx, state.nginx_error = None, exc.message
            except asyncio.TimeoutError:
                pass
            except Exception as exc:
                state.nginx_error = repr(exc)
        await asyncio.sleep(PROBES_EVERY)
