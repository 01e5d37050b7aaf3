"""Logs across hosts, for real: two hosts, each its own supervisord whose program ``web``
writes timestamped lines, reached over real sshds through ``opsconsole agent``; web1 on the
session's sshd, web3 on an sshd of this module's own (the one SIGSTOPped).

One program's log on both comes out merged by time, each line with its host; a filter
matches across both; a stopped host does not stop the other's lines and is marked; the CLI
(``opsconsole tail web`` over two ``[[host]]`` entries) prints them merged too."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from opsconsole.cli import hosts
from opsconsole.core.config import build_config
from opsconsole.core.host import LogRef
from opsconsole.core.logs.merge import MARK, MergedSource, is_mark
from opsconsole.core.logs.parse import LogLine, compile_filter, line_matches, parse_timestamp
from opsconsole.core.remote import RemoteHost
from opsconsole.core.ssh import exit_explainer
from opsconsole.demo.bare import BareSupervisord
from opsconsole.demo.sshd import LocalSshd
from tests.fleet.conftest import AGENT

pytestmark = pytest.mark.integration

#: ``web``: a line every 0.1 s with its own time (ISO, ms), its host and a counter.
WRITER = textwrap.dedent(
    """
    import sys, time
    from datetime import datetime, timezone
    name, i = sys.argv[1], 0
    while True:
        now = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        level = "ERROR" if i % 5 == 0 else "INFO"
        print(f"{now} {level} {name} request {i}", flush=True)
        i += 1
        time.sleep(0.1)
    """
)


@pytest.fixture(scope="module")
def two_supervisords(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """A supervisord per host (h1, h3), each running its ``web`` writer; their configs."""
    base = tmp_path_factory.mktemp("fleet-logs")
    writer = base / "writer.py"
    writer.write_text(WRITER)
    started: list[BareSupervisord] = []
    try:
        for name in ("h1", "h3"):
            sup = BareSupervisord({"web": f"{sys.executable} -u {writer} {name}"}, base / name)
            sup.start(timeout=60)
            started.append(sup)
        yield {"web1": started[0].conf_path, "web3": started[1].conf_path}
    finally:
        for sup in started:
            sup.stop()


def remote(sshd: LocalSshd, alias: str, conf: Path) -> RemoteHost:
    """A RemoteHost as ``opsconsole --host alias -c conf`` builds it, with short timeouts."""
    config = build_config(
        hosts=[alias], ssh_config=str(sshd.ssh_config), agent=AGENT, supervisor_conf=str(conf)
    )
    settings = config.hosts[0]
    return RemoteHost(
        alias,
        hosts.ssh_command(settings, config),
        timeout=3.0,
        connect_timeout=20.0,
        backoff=(0.2, 1.0),
        explain_exit=exit_explainer(alias, settings.agent),
    )


def host_of(line: LogLine) -> str:
    match = re.match(r"\[(\w+)\] ", line.text)
    assert match, line.text
    return match.group(1)


def in_time_order(lines: list[LogLine]) -> None:
    times = [parse_timestamp(line.text) for line in lines if not is_mark(line)]
    assert None not in times
    assert times == sorted(times), [line.text for line in lines]  # type: ignore[type-var]


async def poll_until(merged: MergedSource, enough: object, timeout: float = 60.0) -> list[LogLine]:
    """Poll the merged log, keeping every line, until ``enough(lines)`` holds."""
    got: list[LogLine] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got += await merged.poll()
        if enough(got):  # type: ignore[operator]
            return got
        await asyncio.sleep(0.2)
    pytest.fail(f"not reached in {timeout} s; got {[line.text for line in got][-20:]}")


def test_one_log_on_two_hosts_merges_by_time_with_its_host_and_a_filter_spans_both(
    fleet_sshd: LocalSshd, own_sshd: LocalSshd, two_supervisords: dict[str, Path]
) -> None:
    async def run() -> tuple[list[LogLine], list[LogLine]]:
        web1 = remote(fleet_sshd, "web1", two_supervisords["web1"])
        web3 = remote(own_sshd, "web3", two_supervisords["web3"])
        merged = MergedSource.over_hosts(
            [web1, web3], LogRef("program", name="web"), key="web", label="web", timeout=5.0
        )
        try:
            opened = await merged.open_tail(40)
            followed = await poll_until(
                merged, lambda got: {host_of(x) for x in got if not is_mark(x)} == {"web1", "web3"}
            )
            return opened, followed
        finally:
            await merged.aclose()
            await web1.aclose()
            await web3.aclose()

    opened, followed = asyncio.run(run())
    for lines in (opened, followed):
        assert not [x.text for x in lines if is_mark(x)]  # both answered
        in_time_order(lines)
    # each line carries the host it was written on (the writer puts h1/h3 in the text)
    for line in opened + followed:
        assert line.text.split()[3] == {"web1": "h1", "web3": "h3"}[host_of(line)]
    assert {host_of(x) for x in opened} == {"web1", "web3"}
    # a filter (the views' and --grep's) on the merged lines finds both hosts' errors
    pattern, invert = compile_filter("ERROR")
    errors = [x for x in opened if line_matches(x, pattern, invert)]
    assert {host_of(x) for x in errors} == {"web1", "web3"}
    assert all(" ERROR " in x.text for x in errors)


def test_a_stopped_host_does_not_stop_the_others_lines_and_is_marked(
    fleet_sshd: LocalSshd, own_sshd: LocalSshd, two_supervisords: dict[str, Path]
) -> None:
    async def run() -> tuple[list[LogLine], list[LogLine], MergedSource]:
        web1 = remote(fleet_sshd, "web1", two_supervisords["web1"])
        web3 = remote(own_sshd, "web3", two_supervisords["web3"])
        merged = MergedSource.over_hosts(
            [web1, web3], LogRef("program", name="web"), key="web", label="web", timeout=1.0
        )
        try:
            await merged.open_tail(5)
            stopped = own_sshd.processes()  # sshd, its session and the agent: the "host"
            assert len(stopped) >= 3
            for proc in stopped:
                proc.send_signal(signal.SIGSTOP)
            try:
                # web1's lines keep coming while web3 is stopped, and web3 is marked
                during = await poll_until(
                    merged,
                    lambda got: (
                        any(is_mark(x) and host_of(x) == "web3" for x in got)
                        and sum(host_of(x) == "web1" for x in got) >= 20
                    ),
                )
                assert "web3" in merged.stale or "web3" in merged.failing
                assert merged.notice is not None and "web3" in merged.notice.message
            finally:
                for proc in stopped:
                    proc.send_signal(signal.SIGCONT)
            # web3 answers again: its lines come back
            after = await poll_until(
                merged,
                lambda got: any(host_of(x) == "web3" and not is_mark(x) for x in got),
                timeout=90,
            )
            return during, after, merged
        finally:
            await merged.aclose()
            await web1.aclose()
            await web3.aclose()

    during, after, merged = asyncio.run(run())
    assert not [x for x in during if host_of(x) == "web3" and not is_mark(x)]
    marks = [x.text for x in during if is_mark(x)]
    assert marks and all(m.startswith(f"[web3] {MARK} ") for m in marks)
    assert any("no answer for" in m or "cannot read" in m for m in marks)
    assert merged.stale == {}
    back = [x.text for x in after if is_mark(x) and host_of(x) == "web3"]
    assert any("answering again" in m or "read again" in m for m in back), back


def test_cli_tail_over_two_hosts_prints_one_log_merged_by_time(
    fleet_sshd: LocalSshd,
    own_sshd: LocalSshd,
    two_supervisords: dict[str, Path],
    tmp_path: Path,
) -> None:
    config = fleet_config(tmp_path, fleet_sshd, own_sshd, two_supervisords)
    opsconsole = [sys.executable, "-m", "opsconsole", "--config", str(config), "tail", "web"]
    run = subprocess.run(
        [*opsconsole, "-n", "30", "--grep", "ERROR"],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 0, run.stderr
    lines = [LogLine(text) for text in run.stdout.splitlines()]
    assert lines and {host_of(x) for x in lines} == {"web1", "web3"}
    assert all(" ERROR " in x.text for x in lines)
    in_time_order(lines)
    # -f follows both, merged: every poll's lines in time order, both hosts, until stopped
    follow = subprocess.Popen(
        [*opsconsole, "-n", "0", "-f", "--interval", "0.3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    try:
        assert follow.stdout is not None
        followed: list[LogLine] = []
        while len(followed) < 40 or {host_of(x) for x in followed} != {"web1", "web3"}:
            text = follow.stdout.readline()  # the writers never stop: a line always comes
            assert text, follow.stderr.read() if follow.stderr else "ended"
            followed.append(LogLine(text.rstrip("\n")))
    finally:
        follow.terminate()
        follow.wait(timeout=30)
    assert {host_of(x) for x in followed} == {"web1", "web3"}
    counts = {
        h: [int(x.text.split()[-1]) for x in followed if host_of(x) == h] for h in ("web1", "web3")
    }
    for numbers in counts.values():  # each host's own lines once and in order
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))


def fleet_config(
    tmp_path: Path, fleet_sshd: LocalSshd, own_sshd: LocalSshd, confs: dict[str, Path]
) -> Path:
    """A config with a [[host]] per supervisord (web1 on the session's sshd, web3 on the
    module's own) and one ssh_config with both sshds' aliases."""
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text(
        fleet_sshd.ssh_config.read_text() + "\n" + own_sshd.ssh_config.read_text()
    )
    config = tmp_path / "fleet.toml"
    config.write_text(
        f"ssh_config = {json.dumps(str(ssh_config))}\n\n"
        + "".join(
            f'[[host]]\nname = "{alias}"\nssh = "{alias}"\nagent = {json.dumps(AGENT)}\n'
            f"supervisor_config = {json.dumps(str(conf))}\n\n"
            for alias, conf in confs.items()
        )
    )
    return config


async def test_console_logs_verb_merges_the_hosts_and_filter_and_search_span_them(
    fleet_sshd: LocalSshd,
    own_sshd: LocalSshd,
    two_supervisords: dict[str, Path],
    tmp_path: Path,
) -> None:
    from opsconsole.core.config import build_config
    from opsconsole.tui.app import OpsConsoleApp
    from opsconsole.tui.widgets.logs import LogsView
    from tests.tui.helpers import until

    config = build_config(
        config_file=str(fleet_config(tmp_path, fleet_sshd, own_sshd, two_supervisords))
    )
    app = OpsConsoleApp(config, audit=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: len(app.session.servers) == 2, timeout=60)
        await pilot.press("colon", *"logs web", "enter")
        body = app.main.query_one(LogsView).log_view.lines_widget

        def lines() -> list[LogLine]:
            return [x for x in body.store if not is_mark(x)]

        await until(pilot, lambda: {host_of(x) for x in lines()} == {"web1", "web3"}, timeout=60)
        in_time_order(lines())
        # the filter works on the merged lines: ERROR lines of both hosts, then one host's
        body.focus()  # at 120 columns the source list beside it may have the focus
        await pilot.press("f", *"ERROR", "enter")
        await pilot.pause()
        shown = [row for row in body.get_plain().splitlines() if row.strip()]
        assert shown and all(" ERROR " in row for row in shown)
        assert any("[web1]" in row for row in shown) and any("[web3]" in row for row in shown)
        await pilot.press("f", "ctrl+u", *"web3", "enter")
        await pilot.pause()
        shown = [row for row in body.get_plain().splitlines() if row.strip()]
        assert shown and all("[web3]" in row and " h3 " in row for row in shown)
        await pilot.press("f", "ctrl+u", "enter")
        await pilot.pause()
        # search finds a line of the other host
        await pilot.press("space")  # paused: following new lines would scroll the match away
        await pilot.press("slash", *"h1 request", "enter")
        # the match is brought to the top row once the view has handled the search (which a
        # loaded machine delays past a pause)
        await until(pilot, lambda: "[web1]" in body.get_plain().splitlines()[0], timeout=15)
