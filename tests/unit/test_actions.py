"""The action gate: read-only refusal before anything runs, confirmation, audit trail."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from opsconsole.core import actions
from opsconsole.core.actions import ActionGate
from opsconsole.core.errors import ConfirmationRequired, ReadOnlyError


async def test_read_only_refuses_before_calling(tmp_path: Path) -> None:
    called = []

    async def fn() -> str:
        called.append(1)
        return "done"

    gate = ActionGate(read_only=True, audit_path=tmp_path / "audit.jsonl")
    with pytest.raises(ReadOnlyError, match="read-only"):
        await gate.run("supervisor.stop", "web", fn, confirmed=True)
    assert called == []
    record = json.loads((tmp_path / "audit.jsonl").read_text().splitlines()[0])
    assert record["result"] == "refused" and record["action"] == "supervisor.stop"
    # Lower layers refuse too, even when a caller forgot the gate.
    with pytest.raises(ReadOnlyError):
        actions.assert_writable("send HUP to pid 1")


async def test_non_mutating_allowed_in_read_only() -> None:
    gate = ActionGate(read_only=True)

    async def fn() -> int:
        return 42

    assert await gate.run("nginx.test", "nginx", fn) == 42


async def test_confirmation_required_for_dangerous_ops() -> None:
    gate = ActionGate()

    async def fn() -> None:
        raise AssertionError("must not run")

    with pytest.raises(ConfirmationRequired, match="needs confirmation"):
        await gate.run("supervisor.restart", "web", fn)


async def test_audit_records_results_without_secrets(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    gate = ActionGate(audit_path=path)

    async def ok() -> str:
        return "x"

    async def boom() -> None:
        raise RuntimeError("nope")

    await gate.run("supervisor.start", "web", ok, params={"password": "hunter2", "n": 1})
    with pytest.raises(RuntimeError):
        await gate.run("supervisor.start", "api", boom)
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert [r["result"] for r in lines] == ["ok", "error"]
    assert "hunter2" not in path.read_text()
    assert lines[0]["params"] == {"password": "***", "n": 1}
    assert {"time", "user", "host", "action", "target", "duration"} <= set(lines[0])


def test_every_registered_operation_has_a_title() -> None:
    for op in actions.OPERATIONS.values():
        assert op.title and op.id.count(".") == 1


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o277])
async def test_audit_trail_modes_do_not_depend_on_the_umask(tmp_path: Path, umask: int) -> None:
    path = tmp_path / "state" / "opsconsole" / "audit.jsonl"

    async def ok() -> None:
        return None

    old = os.umask(umask)
    try:
        gate = ActionGate(audit_path=path)
        await gate.run("supervisor.start", "web", ok)
        await gate.run("supervisor.start", "api", ok)  # the second append finds it private
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [json.loads(x)["target"] for x in path.read_text().splitlines()] == ["web", "api"]
