"""The read-only switch belongs to the gate built read-only, and to the code that gate governs.

The lowest layers (here the signal sender) refuse in read-only mode even when called without
the gate, in every task and thread the session starts; a read-only session does not make the
rest of the process (another session, the next test) read-only.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys

import pytest

from opsconsole.core import actions, procs
from opsconsole.core.actions import ActionGate, make_gate
from opsconsole.core.errors import ReadOnlyError
from opsconsole.core.procs import ProcIdentity

pytestmark = pytest.mark.integration  # starts a sleeping process to refuse to signal


async def test_read_only_gate_governs_its_session_and_nothing_else() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        identity = ProcIdentity.of(child.pid)

        async def read_only_session() -> None:
            make_gate(True, audit=False)
            with pytest.raises(ReadOnlyError, match="read-only mode: refused to send SIGTERM"):
                procs.send_signal(identity, signal.SIGTERM)

            async def worker() -> None:
                procs.send_signal(identity, signal.SIGTERM)

            with pytest.raises(ReadOnlyError):
                await asyncio.create_task(worker())
            with pytest.raises(ReadOnlyError):
                await asyncio.to_thread(procs.send_signal, identity, signal.SIGTERM)
            ActionGate(read_only=False)  # a writable gate built later does not lift it
            assert actions.is_read_only()

        await asyncio.create_task(read_only_session())
        assert child.poll() is None, "nothing was sent"

        async def writable_session() -> bool:
            make_gate(False, audit=False)
            return actions.is_read_only()

        assert await asyncio.create_task(writable_session()) is False
        assert not actions.is_read_only(), "the read-only session left the process read-only"
    finally:
        child.kill()
        child.wait()
