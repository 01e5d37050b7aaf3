"""A real, private OpenSSH server on loopback: the fleet demo's hosts and the fleet tests'.

:class:`LocalSshd` runs Debian's ``/usr/sbin/sshd -D -e -f <its own sshd_config>`` on a free
127.0.0.1 port with everything in one temporary directory: its own host key, an
authorized_keys file for the current user holding a fresh client key, a known_hosts file that
records the host key, and an ssh_config with one ``Host`` alias per demo host (all pointing at
this sshd). The console is given that ssh_config (``--ssh-config``); the machine's own
``~/.ssh`` and ``/etc/ssh`` are never read or changed (ssh is told ``-F``, sshd ``-f``).

As root, sshd insists on its privilege separation directory ``/run/sshd`` (Debian's service
creates it at boot): it is created empty when missing, which changes no ssh setting. As another
user, sshd runs unprivileged and can only log that user in, which is all the demo needs.

The sessions' environment comes from the ``environment=`` option of the authorized key
(``PermitUserEnvironment`` limited to the names given), so an agent started by a test writes its
audit trail in the test's directory, not the user's.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from opsconsole.demo.stack import StackError, free_port

SSHD_CANDIDATES = ("/usr/sbin/sshd", "/usr/local/sbin/sshd")


def find_sshd() -> str | None:
    """Debian's sshd (openssh-server), else one on PATH."""
    for candidate in SSHD_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("sshd")


def _keygen(path: Path, comment: str) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _public(path: Path) -> str:
    """``type base64`` of a public key file (no comment)."""
    return " ".join(Path(f"{path}.pub").read_text().split()[:2])


@dataclass
class LocalSshd:
    """One private sshd. ``start()`` returns once it accepts connections; ``stop()`` ends it
    and every session it started, and removes its directory."""

    aliases: Sequence[str] = ("host1",)
    session_env: Mapping[str, str] = field(default_factory=dict)
    base_dir: Path | None = None
    user: str = field(default_factory=getpass.getuser)
    dir: Path = field(init=False)
    port: int = field(init=False, default=0)
    process: subprocess.Popen[bytes] | None = field(init=False, default=None)
    _extra: dict[str, dict[str, str]] = field(init=False, default_factory=dict)

    # -- paths -----------------------------------------------------------------

    @property
    def host_key(self) -> Path:
        return self.dir / "ssh_host_ed25519_key"

    @property
    def client_key(self) -> Path:
        return self.dir / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.dir / "known_hosts"

    @property
    def ssh_config(self) -> Path:
        return self.dir / "ssh_config"

    @property
    def sshd_config(self) -> Path:
        return self.dir / "sshd_config"

    @property
    def log_path(self) -> Path:
        return self.dir / "sshd.log"

    # -- setup -----------------------------------------------------------------

    def start(self, timeout: float = 20.0) -> LocalSshd:
        sshd = find_sshd()
        if sshd is None:
            raise StackError(
                "sshd is not installed: run `make demo-fleet` as root (it installs "
                "openssh-server) or `sudo apt-get install openssh-server`"
            )
        if shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
            raise StackError("the OpenSSH client is not installed: apt-get install openssh-client")
        if os.geteuid() == 0 and not os.path.isdir("/run/sshd"):
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        parent = str(self.base_dir) if self.base_dir else None
        self.dir = Path(tempfile.mkdtemp(prefix="opsconsole-sshd-", dir=parent))
        os.chmod(self.dir, 0o700)
        self.port = free_port()
        _keygen(self.host_key, "opsconsole demo host key")
        _keygen(self.client_key, "opsconsole demo client key")
        self._write_authorized_keys()
        self.write_known_hosts()
        self._write_sshd_config()
        self.write_ssh_config()
        self._launch(sshd, timeout)
        return self

    def _write_authorized_keys(self) -> None:
        options = ",".join(f'environment="{k}={v}"' for k, v in self.session_env.items())
        line = f"{options} {_public(self.client_key)}".strip()
        path = self.dir / "authorized_keys"
        path.write_text(line + "\n")
        path.chmod(0o600)

    def write_known_hosts(self, key: Path | None = None) -> None:
        """Record ``key`` (default: the server's own host key) for this sshd's address."""
        entry = f"[127.0.0.1]:{self.port} {_public(key or self.host_key)}\n"
        self.known_hosts.write_text(entry)

    def _write_sshd_config(self) -> None:
        env_names = ",".join(self.session_env) or "none"
        self.sshd_config.write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {self.host_key}",
                    f"AuthorizedKeysFile {self.dir / 'authorized_keys'}",
                    f"PidFile {self.dir / 'sshd.pid'}",
                    f"AllowUsers {self.user}",
                    "PermitRootLogin prohibit-password",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "StrictModes no",
                    f"PermitUserEnvironment {env_names}",
                    "X11Forwarding no",
                    "AllowTcpForwarding no",
                    "PrintMotd no",
                    "LogLevel VERBOSE",
                    "",
                ]
            )
        )

    def add_alias(self, name: str, **options: str) -> None:
        """One more Host alias for this sshd; ``options`` override or add ssh_config
        settings (``IdentityFile=...``, ``UserKnownHostsFile=...``, ``Port=...``)."""
        self._extra[name] = dict(options)
        self.write_ssh_config()

    def _host_block(self, name: str, overrides: Mapping[str, str]) -> str:
        settings = {
            "HostName": "127.0.0.1",
            "Port": str(self.port),
            "User": self.user,
            "IdentityFile": str(self.client_key),
            "IdentitiesOnly": "yes",
            "IdentityAgent": "none",
            "UserKnownHostsFile": str(self.known_hosts),
            "GlobalKnownHostsFile": "/dev/null",
            "StrictHostKeyChecking": "yes",
            "UpdateHostKeys": "no",
            "ControlMaster": "no",
            "ControlPath": "none",
            "LogLevel": "ERROR",
            **overrides,
        }
        body = "".join(f"  {key} {value}\n" for key, value in settings.items())
        return f"Host {name}\n{body}"

    def write_ssh_config(self) -> None:
        blocks = [self._host_block(a, {}) for a in self.aliases]
        blocks += [self._host_block(a, o) for a, o in self._extra.items()]
        self.ssh_config.write_text("\n".join(blocks))

    # -- process ---------------------------------------------------------------

    def _launch(self, sshd: str | None = None, timeout: float = 20.0) -> None:
        binary = sshd or find_sshd() or "/usr/sbin/sshd"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [binary, "-D", "-e", "-f", str(self.sshd_config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise StackError(f"sshd exited with {self.process.returncode}: {self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise StackError(f"sshd did not listen on port {self.port} in {timeout:.0f} s")

    def log_tail(self, lines: int = 10) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def processes(self) -> list[psutil.Process]:
        """The listener and every session process it started (agents included)."""
        if self.process is None:
            return []
        try:
            listener = psutil.Process(self.process.pid)
            return [listener, *listener.children(recursive=True)]
        except psutil.Error:
            return []

    def sessions(self) -> list[psutil.Process]:
        """Live session processes (children of the listener and theirs)."""
        return self.processes()[1:]

    def kill(self) -> None:
        """SIGKILL the listener and every session it started: sshd dies, as in a crash."""
        procs = self.processes()
        for proc in procs:
            try:
                proc.send_signal(signal.SIGKILL)
            except psutil.Error:
                pass
        psutil.wait_procs(procs, timeout=5)
        if self.process is not None:
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    def restart(self, timeout: float = 20.0) -> None:
        """Start sshd again on the same port, with the same keys (after :meth:`kill`)."""
        if self.running:
            self.kill()
        self._launch(None, timeout)

    def rotate_host_key(self) -> None:
        """A new host key for the server (as after a reinstall), known_hosts unchanged: the
        next connection meets a changed key. Restarts sshd."""
        self.kill()
        for path in (self.host_key, Path(f"{self.host_key}.pub")):
            path.unlink(missing_ok=True)
        _keygen(self.host_key, "opsconsole demo host key (rotated)")
        self._launch()

    def stop(self) -> None:
        """End sshd and every session, remove the directory. Safe to call twice."""
        if self.process is None:
            return
        self.kill()
        self.process = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> LocalSshd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def ssh(
        self, alias: str, *words: str, timeout: float = 30.0
    ) -> subprocess.CompletedProcess[str]:
        """Run ``ssh -F <our config> alias words`` (BatchMode) and return what it did."""
        from opsconsole.core.ssh import parse_destination, ssh_argv

        argv = ssh_argv(parse_destination(alias), list(words), ssh_config=str(self.ssh_config))
        return subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
