"""LocalHost on the real demo stack: real snapshots round-trip through JSON unchanged, the
CLI's JSON shapes come from them, requests go through the host's gate, and every request to
supervisord (the tolerant re-read of log bytes too) goes through the client."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import socketserver
import threading
from pathlib import Path
from typing import Any

import psutil
import pytest

from opsconsole.core import gunicorn
from opsconsole.core.config import AppConfig, SupervisorTarget
from opsconsole.core.host import Host, LogChunk, LogRef, OperationRequest, Snapshot
from opsconsole.core.local import LocalHost, master_of
from opsconsole.core.logs import LogError, ProgramLogSource
from opsconsole.core.supervisor import SupervisorClient
from opsconsole.demo.stack import DemoStack

pytestmark = pytest.mark.integration


def through_json(value: Snapshot) -> Any:
    return type(value).from_json(json.loads(json.dumps(value.to_json(), allow_nan=False)))


def config_of(target: SupervisorTarget, **kw: Any) -> AppConfig:
    return AppConfig(supervisors=[target], **kw)


def test_real_snapshots_round_trip(demo_stack: DemoStack, stack_target: SupervisorTarget) -> None:
    async def run() -> list[Snapshot]:
        async with LocalHost(config_of(stack_target), name="demo-host") as host:
            assert isinstance(host, Host)
            taken: list[Snapshot] = [await host.info(), await host.programs()]
            taken += [await host.gunicorn(), await host.nginx()]
            await asyncio.sleep(0.3)  # CPU% and requests/s need a second sample
            taken += [await host.gunicorn(), await host.nginx(), await host.topology()]
            taken += [await host.nginx_config(), await host.probes()]
            chunk = await host.log(LogRef("program", "demo", "web", "stderr"), lines=5)
            taken += [chunk, await host.log(LogRef("supervisord", "demo"), lines=3)]
            taken.append(await host.log(chunk.source, after=chunk.cursor))
            taken.append(await host.perform(OperationRequest("nginx.test", "nginx")))
            return taken

    snapshots = asyncio.run(run())
    for snap in snapshots:
        assert through_json(snap) == snap, type(snap).__name__
        assert getattr(snap, "host", None) == "demo-host" and getattr(snap, "at", 0) > 0
    programs, masters = snapshots[1], snapshots[4]
    by_name = {p.fullname: p for p in programs.programs}  # type: ignore[attr-defined]
    assert by_name["web"].state == "RUNNING" and by_name["flaky"].trouble
    assert by_name["web"].exitcodes == (0,)  # the config's expected exit codes were read
    assert {m.program for m in masters.masters} >= {"web", "api"}  # type: ignore[attr-defined]
    assert snapshots[5].instance.program == "nginx"  # type: ignore[attr-defined]
    assert snapshots[-1].ok and snapshots[-1].data["ok"]  # type: ignore[attr-defined]


def test_tree_json_keeps_its_shape_and_the_scanned_values(demo_stack: DemoStack) -> None:
    """`opsconsole tree --json` keeps its shape now that it prints snapshots."""
    programs = [p for p in _processes(demo_stack)]
    masters = gunicorn.GunicornScanner().scan(programs)
    assert masters
    for m in masters:
        data = master_of(m).tree_json()
        assert list(data) == list(TREE_KEYS), "the keys scripts read, in their order"
        assert (data["pid"], data["name"], data["program"], data["live"], data["configured"]) == (
            m.pid,
            m.name,
            m.program,
            m.live,
            m.configured,
        )
        assert [w["pid"] for w in data["workers"]] == [w.pid for w in m.workers]
        assert all(list(w) == list(WORKER_KEYS) for w in data["workers"])
        json.dumps(data)


#: the shape of ``opsconsole tree --json`` (one object per master) as it was before the host
TREE_KEYS = [
    "pid",
    "name",
    "program",
    "server",
    "binds",
    "worker_class",
    "configured",
    "live",
    "target",
    "target_source",
    "uptime",
    "timeout",
    "unknown",
    "control_socket",
    "error_log",
    "pidfile",
    "found_by",
    "flags",
    "notes",
    "workers",
]
WORKER_KEYS = [
    "pid",
    "age",
    "cpu_percent",
    "rss",
    "threads",
    "connections",
    "heartbeat_age",
    "status",
    "flags",
]


def _processes(demo_stack: DemoStack) -> list[Any]:
    from opsconsole.core.supervisor import ProcessInfo

    return [
        ProcessInfo.from_rpc(d, "demo") for d in demo_stack.rpc().supervisor.getAllProcessInfo()
    ]


def test_read_only_host_refuses_in_words_and_sends_nothing(
    demo_stack: DemoStack, stack_target: SupervisorTarget
) -> None:
    async def run() -> Any:
        host = LocalHost(config_of(stack_target, read_only=True))
        sent: list[str] = []
        for client in host.monitor.clients.values():
            client.on_send = sent.append
        try:
            result = await host.perform(
                OperationRequest("supervisor.stop", "web", {"names": ["web"]}, confirmed=True)
            )
        finally:
            await host.aclose()
        return result, sent

    result, sent = asyncio.run(run())
    assert result.outcome == "refused" and result.error.kind == "ReadOnlyError"
    assert "read-only" in result.message and not sent
    assert through_json(result) == result
    assert demo_stack.rpc().supervisor.getProcessInfo("web")["statename"] == "RUNNING"


def test_a_request_naming_a_master_that_is_no_longer_that_process_is_refused(
    demo_stack: DemoStack, stack_target: SupervisorTarget
) -> None:
    """Proof of identity travels with the request: a create time that is not the master's
    (its pid reused) refuses the scale before anything is sent."""

    async def run() -> Any:
        async with LocalHost(config_of(stack_target)) as host:
            web = next(m for m in (await host.gunicorn()).masters if m.program == "web")
            request = OperationRequest(
                "gunicorn.scale",
                str(web.pid),
                {"count": "+1", "create_time": web.create_time - 100},
                confirmed=True,
            )
            return web, await host.perform(request)

    web, result = asyncio.run(run())
    assert result.outcome == "refused" and result.error.kind == "ProcessChanged", result
    assert "nothing was sent" in result.error.hint
    masters = gunicorn.GunicornScanner().scan(_processes(demo_stack))
    assert next(m for m in masters if m.program == "web").live == web.live


def test_tolerant_log_reads_go_through_the_client(
    demo_stack: DemoStack, stack_target: SupervisorTarget
) -> None:
    """Bytes supervisord puts raw into its XML (ESC, NUL) are re-read tolerantly: that
    request, too, goes through the client (its read-only spy sees it), not around it."""
    log = Path(demo_stack.logs_dir / "idle.out.log")  # idle is STOPPED: nobody else writes
    saved = log.read_bytes() if log.exists() else b""
    sent: list[str] = []
    try:
        log.write_bytes(b"")

        async def run() -> list[str]:
            async with SupervisorClient(stack_target, read_only=True, on_send=sent.append) as c:
                src = ProgramLogSource(c, "idle", prefer_file=False)
                await src.open_tail(5)
                with log.open("ab") as fh:
                    fh.write(b"esc \x1b[31mred\x00 end\nlast\n")
                sent.clear()
                return [line.text for line in await src.poll()]

        got = asyncio.run(run())
    finally:
        log.write_bytes(saved)
    assert got == ["esc red\u2400 end", "last"]
    reads = [m for m in sent if m == "supervisor.readProcessStdoutLog"]
    assert len(reads) == 2, sent  # the strict read, then the tolerant re-read


def test_scale_result_through_the_host_is_the_cli_json(
    demo_stack: DemoStack, stack_target: SupervisorTarget
) -> None:
    from tests.integration.test_gunicorn import restore

    async def run() -> Any:
        async with LocalHost(config_of(stack_target)) as host:
            unconfirmed = await host.perform(
                OperationRequest("gunicorn.scale", "api", {"count": "+1"})
            )
            done = await host.perform(
                OperationRequest("gunicorn.scale", "api", {"count": "+1", "wait": True}, True)
            )
            return unconfirmed, done

    try:
        unconfirmed, done = asyncio.run(run())
    finally:
        restore(demo_stack, "api")
    assert unconfirmed.outcome == "refused" and unconfirmed.error.kind == "ConfirmationRequired"
    assert "TTIN" in unconfirmed.data["plan"] or "worker add" in unconfirmed.data["plan"]
    assert done.ok and done.data["converged"] is True and done.verified
    assert set(done.data) == {f.name for f in dataclasses.fields(gunicorn.ScaleResult)}
    assert through_json(done) == done


def _non_loopback_address() -> str | None:
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family == socket.AF_INET and not a.address.startswith("127."):
                return str(a.address)
    return None


class _Forward(socketserver.ThreadingTCPServer):
    """A TCP forwarder: supervisord's inet port seen from another address, as a supervisord
    on another machine would be reached (a URL that is not a unix socket nor loopback)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, listen: tuple[str, int], to: tuple[str, int]) -> None:
        self.to = to
        super().__init__(listen, _Pipe)


class _Pipe(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server = self.server
        assert isinstance(server, _Forward)
        with socket.create_connection(server.to) as upstream:
            pair = [(self.request, upstream), (upstream, self.request)]
            threads = [threading.Thread(target=_copy, args=p, daemon=True) for p in pair]
            for t in threads:
                t.start()
            for t in threads:
                t.join(10)


def _copy(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def test_a_remote_supervisords_pids_are_never_matched_to_local_processes(
    demo_stack: DemoStack, stack_env: dict[str, str]
) -> None:
    """One way to list programs: a supervisord reached by a URL that is not this machine's
    (not a unix socket, not loopback) reports another machine's pids, so no local nginx or
    gunicorn master is tied to its programs (`nginx status` used to tie them, `tree` not)."""
    from tests.integration.test_cli import cli

    address = _non_loopback_address()
    if address is None:
        pytest.skip("this machine has no address other than loopback")
    inet = ("127.0.0.1", int(demo_stack.http_url.rsplit(":", 1)[1]))
    with _Forward((address, 0), inet) as forward:
        threading.Thread(target=forward.serve_forever, daemon=True).start()
        try:
            url = f"http://{address}:{forward.server_address[1]}"
            creds = ["--supervisor-url", url, "--user", demo_stack.username]
            status = cli("status", "--json", *creds, env=stack_env)
            assert json.loads(status.stdout)["servers"][0]["reachable"], status.stdout
            ngx = cli("nginx", "status", "--json", *creds, env=stack_env)
            assert ngx.returncode == 0, ngx.stderr
            assert json.loads(ngx.stdout)["instance"]["program"] is None, ngx.stdout
            tree = cli("tree", "--json", *creds, env=stack_env)
            assert tree.returncode == 0, tree.stderr
            masters = json.loads(tree.stdout)["masters"]
            assert masters and all(m["program"] is None for m in masters), tree.stdout
        finally:
            forward.shutdown()
    # the same supervisord on its unix socket is this machine's: nginx is its program
    local = cli("nginx", "status", "--json", "-c", str(demo_stack.conf_path))
    assert json.loads(local.stdout)["instance"]["program"] == "nginx", local.stdout


def test_a_programs_log_followed_and_scrolled_back_through_the_host(
    demo_stack: DemoStack, stack_target: SupervisorTarget
) -> None:
    """Open a program's captured log through the host, follow what it writes, then scroll back
    from the oldest line shown, 1000 lines a chunk: every line once, in order, up to the top
    (the chunk at the top is empty with offset 0), and every chunk round-trips through JSON."""
    log = Path(demo_stack.logs_dir / "idle.out.log")  # idle is STOPPED: nobody else writes
    saved = log.read_bytes() if log.exists() else b""
    written = [f"line {i:05d} of the idle log" for i in range(3200)]
    try:
        log.write_bytes("".join(f"{t}\n" for t in written[:3000]).encode())

        async def run() -> tuple[list[str], list[LogChunk]]:
            async with LocalHost(config_of(stack_target), name="demo-host") as host:
                ref = LogRef("program", "demo", "idle")
                opened = await host.log(ref, lines=100)
                with log.open("ab") as fh:
                    fh.write("".join(f"{t}\n" for t in written[3000:]).encode())
                assert opened.cursor is not None
                followed = await host.log(ref, after=opened.cursor)
                chunks = [opened, followed]
                shown = [e for c in chunks for e in c.lines]
                at = dataclasses.replace(opened.cursor, offset=shown[0].offset, gen=shown[0].gen)
                while True:
                    back = await host.log(ref, before=at, lines=1000)
                    chunks.append(back)
                    assert back.cursor is not None
                    if not back.lines:
                        assert back.cursor.offset == 0  # the top
                        break
                    assert back.cursor.offset == back.lines[0].offset
                    shown = list(back.lines) + shown
                    at = back.cursor
                return [e.text for e in shown], chunks

        texts, chunks = asyncio.run(run())
    finally:
        log.write_bytes(saved)
    assert texts == written  # nothing lost, nothing repeated, in order
    assert [len(c.lines) for c in chunks] == [100, 200, 1000, 1000, 900, 0]
    for chunk in chunks:
        assert through_json(chunk) == chunk


def test_scroll_back_through_the_host_refuses_bad_counts_in_words(
    demo_stack: DemoStack, stack_target: SupervisorTarget
) -> None:
    async def run() -> list[str]:
        out = []
        async with LocalHost(config_of(stack_target), name="demo-host") as host:
            ref = LogRef("supervisord", "demo")
            opened = await host.log(ref, lines=5)
            assert opened.cursor is not None
            for kw in (
                {"before": opened.cursor, "lines": 10**6},
                {"before": opened.cursor, "after": opened.cursor},
                {"before": dataclasses.replace(opened.cursor, handle=10**6)},
            ):
                try:
                    await host.log(ref, **kw)  # type: ignore[arg-type]
                except LogError as exc:
                    out.append(exc.message)
        return out

    assert asyncio.run(run()) == [
        "cannot read 1000000 lines back at once",
        "a log is read either after a cursor or before one, not both",
        "supervisord:demo is no longer open on demo-host",
    ]


def test_expected_exit_codes_are_read_again_after_an_update_not_every_poll(
    demo_stack: DemoStack, stack_target: SupervisorTarget
) -> None:
    """getAllConfigInfo (slow to decode with many programs) is not read on every poll; an
    update this host applied makes the next poll read it again (exitcodes= may have
    changed)."""

    async def run() -> list[float]:
        sent: list[str] = []
        async with LocalHost(config_of(stack_target), name="demo-host") as host:
            host.monitor.client("demo").on_send = sent.append
            await host.supervisord("demo")
            await host.supervisord("demo")
            reads = [float(sent.count("supervisor.getAllConfigInfo"))]
            result = await host.perform(
                OperationRequest(
                    "supervisor.update",
                    "demo",
                    {"server": "demo", "added": [], "changed": [], "removed": []},
                    confirmed=True,
                )
            )
            assert result.ok, result.message
            snap = await host.supervisord("demo")
            reads.append(float(sent.count("supervisor.getAllConfigInfo")))
            assert {p.name: p.exitcodes for p in snap.programs}["web"] == (0,)
            return reads

    assert asyncio.run(run()) == [1.0, 2.0]
