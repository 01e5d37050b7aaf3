"""``opsconsole demo --hosts N``: N real demo stacks, each reached through a real local sshd.

Everything lives in one temporary directory: N :class:`~opsconsole.demo.stack.DemoStack`
(each its own supervisord, gunicorn web and api, nginx, on free loopback ports), one
:class:`~opsconsole.demo.sshd.LocalSshd` with the aliases ``host1`` .. ``hostN`` in a private
ssh_config, and ``fleet.toml``: an opsconsole config with one ``[[host]]`` per stack (its
alias, the agent command of this installation, that stack's supervisord.conf). So

    opsconsole --config FLEET/fleet.toml status

reads every host over ssh, as it would a real fleet, and ``--host host2`` picks one. The
console opens on every host (its hosts view, key 6). The machine's own ssh setup is never read
or changed.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from opsconsole.demo.sshd import LocalSshd
from opsconsole.demo.stack import DemoStack, StackError, teardown
from opsconsole.demo.watchdog import guarding

FLEET_CONFIG = "fleet.toml"
MAX_HOSTS = 8


def agent_command() -> str:
    """This installation's agent, by absolute path (an ssh session's PATH is the system's)."""
    return f"{shlex.quote(sys.executable)} -m opsconsole agent"


@dataclass
class DemoFleet:
    """``start()`` returns once every stack and the sshd are up; ``stop()`` removes it all."""

    count: int = 2
    with_nginx: bool = True
    dir: Path = field(init=False)
    stacks: list[DemoStack] = field(init=False, default_factory=list)
    sshd: LocalSshd | None = field(init=False, default=None)

    @property
    def aliases(self) -> list[str]:
        return [f"host{i + 1}" for i in range(self.count)]

    @property
    def config_path(self) -> Path:
        return self.dir / FLEET_CONFIG

    def start(self) -> DemoFleet:
        if not 1 <= self.count <= MAX_HOSTS:
            raise StackError(f"--hosts must be from 1 to {MAX_HOSTS}, got {self.count}")
        self.dir = Path(tempfile.mkdtemp(prefix="opsconsole-fleet-"))
        self.dir.chmod(0o755)  # nginx workers (an unprivileged user) reach each stack's files
        try:
            for _ in range(self.count):
                stack = DemoStack(with_nginx=self.with_nginx, base_dir=self.dir)
                self.stacks.append(stack)
                stack.start()
            self.sshd = LocalSshd(aliases=self.aliases, base_dir=self.dir).start()
            self._write_config()
        except BaseException:
            self.stop()
            raise
        return self

    def _write_config(self) -> None:
        assert self.sshd is not None
        lines = [
            "# opsconsole demo fleet: each host is a demo stack behind a local sshd",
            f"ssh_config = {json.dumps(str(self.sshd.ssh_config))}",
        ]
        for alias, stack in zip(self.aliases, self.stacks, strict=True):
            lines += [
                "",
                "[[host]]",
                f'name = "{alias}"',
                f'ssh = "{alias}"',
                f"agent = {json.dumps(agent_command())}",
                f"supervisor_config = {json.dumps(str(stack.conf_path))}",
            ]
            if stack.nginx_bin:
                lines.append(f"nginx_conf = {json.dumps(str(stack.nginx_conf))}")
        self.config_path.write_text("\n".join(lines) + "\n")

    def stop(self) -> None:
        """Stop every stack and the sshd, remove the directory. Safe to call twice."""
        for stack in self.stacks:
            stack.stop()
        self.stacks = []
        if self.sshd is not None:
            self.sshd.stop()
            self.sshd = None
        if getattr(self, "dir", None) is not None:
            shutil.rmtree(self.dir, ignore_errors=True)

    def describe(self) -> str:
        assert self.sshd is not None
        lines = [
            f"demo fleet in {self.dir}: {self.count} hosts behind sshd 127.0.0.1:{self.sshd.port}"
        ]
        for alias, stack in zip(self.aliases, self.stacks, strict=True):
            nginx = f", nginx {stack.url('nginx')}" if stack.nginx_bin else ""
            lines.append(f"  {alias}: web {stack.url('web')}, api {stack.url('api')}{nginx}")
        return "\n".join(lines)

    def commands(self) -> str:
        """The lines an operator types to use the fleet from a shell."""
        config = shlex.quote(str(self.config_path))
        one = shlex.quote(str(self.sshd.ssh_config)) if self.sshd else "SSH_CONFIG"
        first = self.stacks[0].conf_path if self.stacks else "supervisord.conf"
        return "\n".join(
            [
                f"  every host:  opsconsole --config {config} status",
                f"               opsconsole --config {config} tree",
                f"  some hosts:  opsconsole --config {config} --host host1 --host host2 status",
                f"  by hand:     opsconsole --ssh-config {one} --agent "
                f"{shlex.quote(agent_command())} -c {shlex.quote(str(first))} "
                "--host host1 status",
                f"  over ssh:    ssh -F {one} host1",
            ]
        )


def is_fleet_dir(directory: Path) -> bool:
    return (directory / FLEET_CONFIG).exists()


def teardown_fleet(directory: Path) -> None:
    """Stop a fleet left running by ``--keep`` (or whose console died): each stack, then the
    sshd (only the one whose command line names this directory's sshd_config)."""
    for stack_dir in sorted(directory.glob("opsconsole-demo-*")):
        teardown(stack_dir)
    for config in directory.glob("opsconsole-sshd-*/sshd_config"):
        for proc in psutil.process_iter(["cmdline"]):
            try:
                if str(config) in " ".join(proc.info["cmdline"] or []):
                    doomed = [proc, *proc.children(recursive=True)]
                    for p in doomed:
                        p.send_signal(signal.SIGKILL)
                    psutil.wait_procs(doomed, timeout=5)
            except psutil.Error:
                continue
    teardown(directory)  # anything left that names the directory; then remove it


# --------------------------------------------------------------------------- the command


def run_fleet_demo(args: argparse.Namespace) -> int:
    """``opsconsole demo --hosts N``: start the fleet, print how to use it, open the console."""

    fleet = DemoFleet(count=args.hosts, with_nginx=not args.no_nginx)
    print(f"starting {args.hosts} demo stacks behind a local sshd ...", flush=True)
    try:
        fleet.start()
    except StackError as exc:
        print(f"opsconsole: the demo fleet did not start: {exc}", file=sys.stderr)
        return 2
    print(fleet.describe())
    print("\nuse it from a shell:")
    print(fleet.commands())
    if args.keep:
        print(f"\nstop:  opsconsole demo --stop {fleet.dir}")
        return 0
    with guarding(fleet.dir):
        return _fleet_console(args, fleet)


def _fleet_console(args: argparse.Namespace, fleet: DemoFleet) -> int:
    """The console on a started demo fleet; the fleet stopped however it ends."""
    from opsconsole.cli.tui import _say, run_tui
    from opsconsole.core.config import build_config

    try:
        # The console on every host of the fleet, each reached over ssh like a real one.
        config = build_config(
            config_file=str(fleet.config_path),
            read_only=args.read_only,
            theme=args.theme,
            refresh=args.refresh,
            timeout=args.timeout,
        )
        hosts = ", ".join(fleet.aliases)
        print(f"\nopening the console on {hosts} (q quits and stops the fleet) ...", flush=True)
        return run_tui(config)
    finally:
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
        _say("stopping the demo fleet ...")
        fleet.stop()
        _say("demo fleet stopped; nothing left running.")
