"""``opsconsole tail``: print (and follow) a log, sanitised for the terminal.

SOURCE is one of:

* a file path (anything with a ``/`` or starting with ``~``; ``./name`` for a file here),
* ``supervisord`` — supervisord's own log,
* a supervisor program name (``web``, ``queue:queue_00``): its stdout, or its stderr with
  ``--stderr``. Names may contain ``:`` (group:name), so the stream is a flag, never a suffix.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from typing import TextIO

from opsconsole.cli import hosts
from opsconsole.cli.common import open_host
from opsconsole.core.config import AppConfig
from opsconsole.core.host import Host, LogChunk, LogRef
from opsconsole.core.logs import LogError, SourceSpec
from opsconsole.core.logs.merge import MARK, MergedSource, is_mark
from opsconsole.core.logs.parse import LogLine, parse_since


def parse_source_arg(text: str, *, stderr: bool = False, server: str = "") -> SourceSpec:
    """What ``opsconsole tail SOURCE`` names (pure). Raises LogError for contradictions."""
    text = text.strip()
    if not text:
        raise LogError("no log named", "give a file path, a program name or 'supervisord'")
    if "/" in text or text.startswith("~"):
        if stderr:
            raise LogError("--stderr applies to supervisor programs, not to files")
        return SourceSpec("file", path=text)
    if text == "supervisord":
        if stderr:
            raise LogError(
                "--stderr applies to programs; supervisord's own log is one file",
                "drop --stderr",
            )
        return SourceSpec("supervisord", server)
    return SourceSpec("program", server, text, "stderr" if stderr else "stdout")


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "tail",
        help="print the end of a log (file, program output or supervisord's log); -f follows",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("source", metavar="SOURCE", help="file path, program name, or supervisord")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    p.add_argument("-n", "--lines", type=int, default=None, metavar="N", help="lines (default 10)")
    p.add_argument("--stderr", action="store_true", help="the program's stderr, not its stdout")
    p.add_argument("--grep", metavar="RE", help="only lines matching this regular expression")
    p.add_argument("-i", "--ignore-case", action="store_true", help="--grep ignores case")
    p.add_argument("-v", "--invert", action="store_true", help="only lines NOT matching --grep")
    p.add_argument("--since", metavar="TIME", help="only lines since: 10m, 2h, 1d or ISO time")
    p.add_argument("--server", help="which configured supervisord (default: the first)")
    p.add_argument(
        "--interval", type=float, default=0.5, help="seconds between checks with -f (0.5)"
    )
    p.set_defaults(handler=cmd_tail)


def cmd_tail(args: argparse.Namespace, config: AppConfig) -> int:
    return asyncio.run(run_tail(args, config, sys.stdout))


async def run_tail(args: argparse.Namespace, config: AppConfig, out: TextIO) -> int:
    """Print the lines ``args`` asks for to ``out``; follow with ``-f`` until interrupted."""
    server = args.server or (config.supervisors[0].name if config.supervisors else "")
    spec = parse_source_arg(args.source, stderr=args.stderr, server=server)
    pattern = None
    if args.grep:
        try:
            pattern = re.compile(args.grep, re.IGNORECASE if args.ignore_case else 0)
        except re.error as exc:
            raise LogError(
                f"--grep {args.grep!r} is not a valid regular expression: {exc}"
            ) from None
    since = None
    if args.since:
        try:
            since = parse_since(args.since, time.time())
        except ValueError as exc:
            raise LogError(str(exc)) from None
    if args.lines is not None and args.lines < 0:
        raise LogError("-n must be 0 or more")
    ref = LogRef(spec.kind, spec.server, spec.name, spec.stream, spec.path)
    _reconfigure(out)
    if hosts.is_fleet(config):
        if args.server is None:  # each host's own first supervisord
            ref = LogRef(spec.kind, "", spec.name, spec.stream, spec.path)
        return await _fleet_tail(args, config, ref, since, pattern, out)
    async with open_host(config) as host:
        await _tail_host(host, ref, args, since, pattern, out)
    return 0


async def _fleet_tail(
    args: argparse.Namespace,
    config: AppConfig,
    ref: LogRef,
    since: float | None,
    pattern: re.Pattern[str] | None,
    out: TextIO,
) -> int:
    """The same log on every host, merged by time (:class:`MergedSource`), each line
    prefixed ``[host]`` when there are several; a host that fails or stops answering is said
    on stderr and the others go on (exit 2 when a host could not be read)."""
    if len(config.hosts) == 1:

        async def tail(host: Host) -> None:
            await _tail_host(host, ref, args, since, pattern, out)

        return hosts.say_failed(await hosts.read_all(config, tail))

    def show(lines: list[LogLine]) -> None:
        """Lines on ``out``; what the merge says of a host (no answer, an error) on stderr."""
        for line in lines:
            if is_mark(line):
                head, _, words = line.text.partition(f" {MARK} ")
                print(f"opsconsole: {head} {words}", file=sys.stderr, flush=True)
                continue
            if since is not None and line.ts is not None and line.ts < since:
                continue
            if pattern is not None and (pattern.search(line.text) is None) != args.invert:
                continue
            out.write(line.text + "\n")
        out.flush()

    async with hosts.opened(config) as opened:
        merged = MergedSource.over_hosts(
            [host for _, host in opened],
            ref,
            key=f"tail:{ref.kind}:{ref.name or ref.path}",
            label=ref.name or ref.path or ref.kind,
            since=since if args.lines is None else None,
            # without -f: every host's answer (or its error); with -f a first answer
            # within the hosts' own timeout, then a host is not waited for past 2 s
            open_timeout=None if not args.follow else max(config.timeout * 2, 10.0),
        )
        try:
            show(await merged.open_tail(10 if args.lines is None else args.lines))
            while args.follow:
                await asyncio.sleep(max(0.05, args.interval))
                show(await merged.poll())
        finally:
            await merged.aclose()
        return 2 if merged.failing else 0


async def _tail_host(
    host: Host,
    ref: LogRef,
    args: argparse.Namespace,
    since: float | None,
    pattern: re.Pattern[str] | None,
    out: TextIO,
    label: str = "",
) -> None:
    """Print the lines of ``ref`` on ``host`` (each after ``label``); follow with ``-f``."""

    def show(chunk: LogChunk) -> None:
        for line in chunk.lines:
            if since is not None and line.ts is not None and line.ts < since:
                continue
            if pattern is not None and (pattern.search(line.text) is None) != args.invert:
                continue
            out.write(label + line.text + "\n")
        out.flush()

    said = False

    def say_notice(chunk: LogChunk) -> None:
        """Why part of the log is not shown as written (on stderr, once)."""
        nonlocal said
        if chunk.notice is not None and not said:
            notice = chunk.notice
            print(
                f"opsconsole: {label}{notice.message}; {notice.hint}", file=sys.stderr, flush=True
            )
            said = True

    chunk = await host.log(ref, lines=args.lines, since=since)
    show(chunk)
    say_notice(chunk)
    while args.follow:
        await asyncio.sleep(max(0.05, args.interval))
        chunk = await host.log(ref, after=chunk.cursor)
        show(chunk)
        say_notice(chunk)


def _reconfigure(out: TextIO) -> None:
    """Never die on a terminal that cannot show a replacement symbol."""
    reconfigure = getattr(out, "reconfigure", None)
    if reconfigure is not None:
        try:
            reconfigure(errors="replace")
        except (ValueError, OSError):
            pass
