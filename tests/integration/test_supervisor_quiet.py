"""An idle supervisord is not asked for every program every second, and every change still
shows at the next refresh: a real supervisord of the module's own, changed by another client
(as a colleague's supervisorctl would), polled by the console's monitor. Each getAllProcessInfo
the monitor sends is counted at its client."""

from __future__ import annotations

import asyncio
import xmlrpc.client
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from opsconsole.core.config import SupervisorTarget
from opsconsole.core.supervisor import ProcessState
from opsconsole.core.supervisor.monitor import SupervisorMonitor
from opsconsole.core.supervisor.quiet import QuietCheck
from opsconsole.demo.bare import BareSupervisord
from opsconsole.demo.stack import _UnixTransport

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BareSupervisord]:
    own = BareSupervisord.sleepers(4, tmp_path_factory.mktemp("quiet"))
    own.start(timeout=60)
    try:
        yield own
    finally:
        own.stop()


def other_client(sup: BareSupervisord) -> Any:
    """Another client of the same supervisord (a colleague's supervisorctl)."""
    return xmlrpc.client.ServerProxy(
        "http://localhost/RPC2", transport=_UnixTransport(str(sup.sock))
    ).supervisor


class Counted:
    """The monitor of ``sup``, counting the getAllProcessInfo calls its client sends."""

    def __init__(self, sup: BareSupervisord, full_every: float = 60.0) -> None:
        self.monitor = SupervisorMonitor([SupervisorTarget("s", sup.url)])
        self.monitor.quiet["s"].full_every = full_every
        client = self.monitor.client("s")
        self.asked = 0
        real = client.get_all_process_info

        async def counting() -> Any:
            self.asked += 1
            return await real()

        client.get_all_process_info = counting  # type: ignore[method-assign]

    async def states(self) -> dict[str, str]:
        snap = await self.monitor.poll("s")
        assert snap.ok, snap.error
        return {p.name: p.statename for p in snap.processes}

    async def until(self, name: str, state: str, polls: int = 40) -> int:
        """Poll once a refresh (0.25 s here) until ``name`` shows ``state``; the polls it took."""
        for n in range(1, polls + 1):
            if (await self.states())[name] == state:
                return n
            await asyncio.sleep(0.25)
        raise AssertionError(f"{name} never showed {state}")


async def test_idle_polls_do_not_ask_and_changes_by_another_client_show_at_once(
    sup: BareSupervisord,
) -> None:
    seen = Counted(sup)
    try:
        first = await seen.states()
        assert set(first.values()) == {"RUNNING"} and seen.asked == 1
        for _ in range(10):  # idle: answered from the last poll, supervisord not asked
            assert await seen.states() == first
            await asyncio.sleep(0.05)
        # (a CPU spike of supervisord's on a loaded machine may make one poll ask)
        assert seen.asked <= 2, seen.asked
        assert seen.monitor.quiet["s"].skipped >= 9

        # stopped by another client: the process ended, the next poll asks and shows it
        other_client(sup).stopProcess("p001", True)
        assert await seen.until("p001", "STOPPED") == 1
        asked = seen.asked
        for _ in range(5):  # quiet again
            assert (await seen.states())["p001"] == "STOPPED"
        assert seen.asked <= asked + 1

        # started again by the other client: a child appeared, the next poll shows it
        other_client(sup).startProcess("p001", True)
        assert await seen.until("p001", "RUNNING") == 1
    finally:
        await seen.monitor.aclose()


async def test_a_group_added_without_a_process_shows_from_supervisords_log(
    sup: BareSupervisord, tmp_path: Path
) -> None:
    """``reread`` + ``update`` of a program that does not autostart: no process starts or
    ends, supervisord only logs 'added process group': the next poll asks all the same."""
    seen = Counted(sup)
    conf = sup.conf_path.read_text()
    try:
        for _ in range(3):
            await seen.states()
            await asyncio.sleep(0.2)  # a few quiet seconds' worth: supervisord's idle rate
        asked = seen.asked
        sup.conf_path.write_text(
            conf + "\n[program:later]\ncommand=/bin/sleep 86400\nautostart=false\n"
        )
        rpc = other_client(sup)
        rpc.reloadConfig()
        rpc.addProcessGroup("later")
        # supervisord logs neither: its CPU (the requests cost it) says something happened
        states = await seen.states()
        assert states.get("later") == "STOPPED" and seen.asked == asked + 1
    finally:
        other_client(sup).removeProcessGroup("later")
        sup.conf_path.write_text(conf)
        other_client(sup).reloadConfig()
        await seen.monitor.aclose()


async def test_a_full_poll_at_least_every_full_every_and_after_an_own_action(
    sup: BareSupervisord,
) -> None:
    seen = Counted(sup, full_every=0.5)
    try:
        await seen.states()
        await seen.states()
        assert seen.asked == 1
        await asyncio.sleep(0.6)
        await seen.states()
        assert seen.asked == 2  # asked again after full_every, whatever the signs said
        seen.monitor.expect_change()  # the console acted: the next poll asks
        await seen.states()
        assert seen.asked == 3
    finally:
        await seen.monitor.aclose()


async def test_a_program_between_states_is_asked_every_time(sup: BareSupervisord) -> None:
    seen = Counted(sup)
    try:
        snap = await seen.monitor.poll("s")
        moving = [
            p if p.name != "p002" else type(p)(**{**p.__dict__, "state": ProcessState.STARTING})
            for p in snap.processes
        ]
        check = seen.monitor.quiet["s"]
        assert snap.info is not None
        check.mark(snap.info.pid, moving)
        assert not check.quiet()  # STARTING turns RUNNING with time alone
        check.mark(snap.info.pid, snap.processes)
        assert check.quiet()
    finally:
        await seen.monitor.aclose()


def test_a_supervisord_not_proven_here_is_always_asked(sup: BareSupervisord) -> None:
    import psutil

    pid = int(other_client(sup).getPID())
    processes: list[Any] = []
    # reached at another address than the one this supervisord listens on
    elsewhere = QuietCheck("http://10.0.0.7:9001")
    elsewhere.mark(pid, processes)
    assert not elsewhere.quiet()
    # a pid that is not a supervisord (this test's own process)
    mine = QuietCheck(sup.url, str(sup.sock))
    mine.mark(psutil.Process().pid, processes)
    assert not mine.quiet()
    # the one it is: proven
    proven = QuietCheck(sup.url, str(sup.sock))
    proven.mark(pid, processes)
    assert proven.quiet()
