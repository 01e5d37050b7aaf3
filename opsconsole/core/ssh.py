"""The SSH transport: the operator's own OpenSSH client, run as they would run it.

A fleet host is reached with ``ssh -T -o BatchMode=yes ... -- DEST <agent command>``, so
``~/.ssh/config``, ProxyJump, ControlMaster, ssh-agent, FIDO keys and known_hosts work exactly
as in the operator's shell. This module only builds that argv and explains its failures:

* :func:`parse_destination`: what ``ssh`` accepts as a destination (an ssh_config alias,
  ``user@host``, ``ssh://user@host:port``); anything else is refused in words before ssh runs.
* :func:`ssh_argv`: the argv. The remote command is our words, each quoted with
  :func:`shlex.quote`, so the remote shell sees exactly them (a space or a ``$`` in the agent's
  path stays part of one word). BatchMode: ssh never prompts (no password or 2FA question can
  appear inside the console); host-key checking is never relaxed (no
  ``StrictHostKeyChecking=no`` ever: an unknown or changed key is refused).
* :func:`explain_exit`: ssh's exit status and stderr turned into a typed :class:`SshError`
  with operator words and a hint (unknown host, refused, timeout, host key changed or unknown,
  authentication failed, the agent not installed, the connection lost).

No process is started here (:mod:`opsconsole.core.remote` runs the argv).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from opsconsole.core.errors import OpsError

#: The agent command run on a host when none is configured.
DEFAULT_AGENT = "opsconsole agent"
#: The name that means this machine (no ssh).
LOCAL = "local"
#: Seconds ssh waits for the TCP connection (ConnectTimeout).
CONNECT_TIMEOUT = 10
#: ssh asks the server for a sign of life every this many seconds and gives up after
#: ``ALIVE_COUNT`` unanswered asks (a frozen or vanished host is noticed in about 45 s).
ALIVE_INTERVAL = 15
ALIVE_COUNT = 3

_INSTALL_HINT = (
    "install it there with `pip install opsconsole` (in the environment of the user ssh logs "
    "in as), or set the agent command: `--agent '/opt/venv/bin/opsconsole agent'` or "
    '`agent = "/opt/venv/bin/opsconsole agent"` in its [[host]] entry'
)


class SshError(OpsError):
    """Reaching a host over ssh failed. ``destination`` is the host as the operator named
    it; ``said`` is what ssh (or the remote command) wrote on stderr, trimmed."""

    def __init__(
        self, message: str, hint: str = "", *, destination: str = "", said: str = ""
    ) -> None:
        super().__init__(message, hint)
        self.destination = destination
        self.said = said


class BadDestination(SshError):
    """The destination is not something ssh accepts (refused before ssh runs)."""


class SshHostUnknown(SshError):
    """ssh could not resolve the host name."""


class SshConnectionRefused(SshError):
    """Nothing listens on the host's ssh port."""


class SshTimeout(SshError):
    """The host did not answer in time (connecting, or a session that stopped answering)."""


class SshHostKeyChanged(SshError):
    """The host's key differs from the one in known_hosts: refused, never overridden."""


class SshHostKeyUnknown(SshError):
    """The host's key is not in known_hosts (BatchMode never adds one)."""


class SshAuthFailed(SshError):
    """The server refused every key (or wants a password/2FA, which BatchMode never asks)."""


class AgentNotInstalled(SshError):
    """The agent command is not there on the host."""


class AgentTooOld(SshError):
    """The opsconsole on the host has no ``agent`` command (an older version)."""


class SshConnectionLost(SshError):
    """A working session ended: the connection closed, or the agent died."""


# --------------------------------------------------------------------------- destinations


@dataclass(frozen=True)
class Destination:
    """A parsed ssh destination. ``target`` is what ssh gets after ``--`` (alias, host or
    ``user@host``); ``port`` goes to ``-p``. ``text`` is what the operator wrote."""

    text: str
    host: str
    user: str | None = None
    port: int | None = None

    @property
    def target(self) -> str:
        return f"{self.user}@{self.host}" if self.user else self.host

    @property
    def is_local(self) -> bool:
        return self.text == LOCAL


# Characters ssh_config aliases and host names use in practice; anything else (whitespace,
# quotes, shell metacharacters, a leading '-') is refused: ssh would read it as an option or
# it would mean something else to ssh than to the operator.
_HOST = re.compile(r"^(?:\[[0-9A-Fa-f:.%a-zA-Z]+\]|[A-Za-z0-9_.%:*+-]+)$")
_USER = re.compile(r"^[A-Za-z0-9_.+-][A-Za-z0-9_.+\\-]*$")
_DEST_HINT = "give an ssh_config alias, user@host, or ssh://user@host:port (what `ssh` accepts)"


def parse_destination(text: str) -> Destination:
    """Parse what ``--host`` or ``ssh = ...`` names. ``local`` is this machine. Raises
    BadDestination in words for anything ssh would not read as one destination."""
    raw = text
    text = text.strip()
    if not text:
        raise BadDestination("an empty host was given", _DEST_HINT)
    if text == LOCAL:
        return Destination(LOCAL, LOCAL)
    if any(c.isspace() or not c.isprintable() for c in text):
        raise BadDestination(f"host {raw!r} contains a space or control character", _DEST_HINT)
    if text.startswith("-"):
        raise BadDestination(
            f"host {text!r} starts with '-' (ssh would read an option)", _DEST_HINT
        )
    if "://" in text:
        return _parse_url(text)
    user, sep, host = text.rpartition("@")
    if sep and not user:
        raise BadDestination(f"host {text!r} has an '@' but no user before it", _DEST_HINT)
    if sep and not _USER.match(user):
        raise BadDestination(f"user {user!r} in host {text!r} is not a user name", _DEST_HINT)
    if not host:
        raise BadDestination(f"host {text!r} names no host after '@'", _DEST_HINT)
    if not _HOST.match(host):
        raise BadDestination(f"{host!r} is not a host name or ssh_config alias", _DEST_HINT)
    return Destination(text, host, user or None)


def _parse_url(text: str) -> Destination:
    parts = urlsplit(text)
    if parts.scheme != "ssh":
        raise BadDestination(
            f"host {text!r} is a {parts.scheme or 'schemeless'} URL; only ssh:// is accepted",
            _DEST_HINT,
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise BadDestination(f"host {text!r} has a path or query; ssh:// takes none", _DEST_HINT)
    try:
        port = parts.port
    except ValueError:
        raise BadDestination(f"the port in {text!r} is not a number from 1 to 65535") from None
    if port == 0:
        raise BadDestination(f"the port in {text!r} is not a number from 1 to 65535")
    host = parts.hostname or ""
    if not host:
        raise BadDestination(f"host {text!r} names no host", _DEST_HINT)
    user = parts.username
    if parts.password is not None:
        raise BadDestination(
            f"host {text.split('@')[-1]!r} carries a password in the URL: never put one there",
            "use a key (ssh-add) or a master connection; BatchMode never sends passwords",
        )
    if user is not None and not _USER.match(user):
        raise BadDestination(f"user {user!r} in {text!r} is not a user name", _DEST_HINT)
    if not _HOST.match(host):
        raise BadDestination(f"{host!r} in {text!r} is not a host name", _DEST_HINT)
    return Destination(text, host, user, port)


# --------------------------------------------------------------------------- argv


def agent_words(agent: str) -> list[str]:
    """The agent command (``opsconsole agent``, or ``'/opt/my venv/bin/opsconsole' agent``)
    as words, split like a shell would. Raises SshError for an empty or unbalanced one."""
    try:
        words = shlex.split(agent)
    except ValueError as exc:
        raise SshError(
            f"the agent command {agent!r} cannot be read: {exc}",
            "quote a path with spaces: --agent \"'/opt/my venv/bin/opsconsole' agent\"",
        ) from None
    if not words:
        raise SshError("the agent command is empty", f"leave it out for {DEFAULT_AGENT!r}")
    return words


def remote_command(words: Sequence[str]) -> str:
    """One string the remote shell splits back into exactly ``words``."""
    return " ".join(shlex.quote(w) for w in words)


def ssh_argv(
    destination: Destination,
    words: Sequence[str],
    *,
    ssh_config: str | None = None,
    ssh: str = "ssh",
    connect_timeout: int = CONNECT_TIMEOUT,
    alive_interval: int = ALIVE_INTERVAL,
    alive_count: int = ALIVE_COUNT,
) -> list[str]:
    """``ssh -T -o BatchMode=yes [-F CONFIG] [-p PORT] -o ... -- DEST <words quoted>``."""
    if destination.is_local:
        raise SshError("'local' is this machine: it is not reached over ssh")
    argv = [ssh, "-T", "-o", "BatchMode=yes"]
    if ssh_config:
        argv += ["-F", ssh_config]
    if destination.port is not None:
        argv += ["-p", str(destination.port)]
    argv += [
        "-o",
        f"ConnectTimeout={connect_timeout}",
        "-o",
        f"ServerAliveInterval={alive_interval}",
        "-o",
        f"ServerAliveCountMax={alive_count}",
        "--",
        destination.target,
        remote_command(words),
    ]
    return argv


# --------------------------------------------------------------------------- failures


def _said(stderr: str, limit: int = 6) -> str:
    """The lines of stderr worth quoting (no banner lines of '@'), at most ``limit``."""
    lines = [ln.strip() for ln in stderr.splitlines()]
    lines = [ln for ln in lines if ln and not set(ln) <= {"@"} and not ln.startswith("@ ")]
    return " / ".join(lines[-limit:])


def _master_hint(dest: str) -> str:
    return (
        "load a key into your agent (`ssh-add`), or, for a password or 2FA, make a master "
        "connection once in a shell and keep it open: `ssh -o ControlMaster=auto "
        "-o ControlPath=~/.ssh/cm-%r@%h:%p -o ControlPersist=10m "
        f"{dest}` (with the same ControlPath in ~/.ssh/config for {dest})"
    )


def explain_exit(
    destination: str, code: int | None, stderr: str, *, agent: str = DEFAULT_AGENT
) -> SshError:
    """Why ``ssh DEST <agent>`` ended, in words: ``code`` is its exit status (None when it
    was still running or is unknown; negative when it was killed by a signal here),
    ``stderr`` what it wrote. Always returns an SshError subclass with a hint."""
    said = _said(stderr)
    low = stderr.lower()
    quote = f": ssh said: {said}" if said else ""

    def make(cls: type[SshError], message: str, hint: str) -> SshError:
        return cls(message, hint, destination=destination, said=said)

    if "remote host identification has changed" in low or (
        "host key for" in low and "has changed" in low
    ):
        keys = [
            ln.strip()
            for ln in stderr.splitlines()
            if ln.strip().startswith(("SHA256:", "MD5:", "Offending", "Host key for", "ssh-keygen"))
        ]
        if keys:
            said = " / ".join(keys)
            quote = f": ssh said: the key sent now is {said}"
        return make(
            SshHostKeyChanged,
            f"the host key of {destination} has CHANGED since it was recorded in known_hosts; "
            f"refused (possibly someone is intercepting the connection){quote}",
            "find out why the key changed (reinstalled server?) before trusting it; only then "
            "remove the old key with the `ssh-keygen -R` line ssh printed and connect once "
            "in a shell to check and record the new one",
        )
    if "host key verification failed" in low or "no matching host key" in low:
        return make(
            SshHostKeyUnknown,
            f"the host key of {destination} is not known (not in known_hosts); refused{quote}",
            f"connect once in a shell (`ssh {destination}`), check the fingerprint and accept "
            "it, so it is recorded in known_hosts; opsconsole never accepts keys itself",
        )
    if "could not resolve hostname" in low or "name or service not known" in low:
        return make(
            SshHostUnknown,
            f"host {destination} is unknown: its name does not resolve{quote}",
            "check the spelling, the Host alias in ~/.ssh/config (or --ssh-config), and DNS",
        )
    if "connection refused" in low:
        return make(
            SshConnectionRefused,
            f"{destination} refused the ssh connection (nothing listens on its ssh port){quote}",
            "is sshd running there, and is the port right (Port in ssh_config, or "
            "ssh://host:PORT)?",
        )
    if "permission denied" in low or "too many authentication failures" in low:
        return make(
            SshAuthFailed,
            f"{destination} refused the login: no key was accepted{quote}",
            _master_hint(destination),
        )
    if "timed out" in low or "timeout, server" in low or "not responding" in low:
        return make(
            SshTimeout,
            f"{destination} did not answer in time{quote}",
            "is the host up and reachable (network, firewall, VPN)? a host that stopped "
            "answering mid-session is dropped after about "
            f"{ALIVE_INTERVAL * ALIVE_COUNT} s",
        )
    if code in (126, 127) or "command not found" in low or "no module named opsconsole" in low:
        return make(
            AgentNotInstalled,
            f"opsconsole is not installed on {destination} (the agent command {agent!r} "
            f"was not found there){quote}",
            _INSTALL_HINT,
        )
    if "invalid choice: 'agent'" in low:
        return make(
            AgentTooOld,
            f"the opsconsole on {destination} is too old to serve the console (it has no "
            f"'agent' command){quote}",
            "upgrade it there: `pip install -U opsconsole`",
        )
    if "closed by remote host" in low or "connection reset" in low or "broken pipe" in low:
        return make(
            SshConnectionLost,
            f"the connection to {destination} was closed by the other side{quote}",
            "sshd there was restarted or killed, or the host is going down; it is retried",
        )
    if code is not None and code < 0:
        return make(
            SshConnectionLost,
            f"the ssh process for {destination} was killed here (signal {-code}){quote}",
            "it is retried",
        )
    if code == 255:
        return make(
            SshConnectionLost,
            f"the session with {destination} ended without an exit status (the agent there "
            f"was killed, or ssh failed){quote}",
            f"run `ssh {destination}` in a shell to see what ssh says; it is retried",
        )
    if code is None:
        return make(
            SshConnectionLost,
            f"the agent on {destination} stopped answering{quote}",
            "it is retried",
        )
    return make(
        SshConnectionLost,
        f"the agent on {destination} exited with status {code}{quote}",
        f"run `ssh {destination} {agent}` in a shell to see why",
    )


def exit_explainer(
    destination: str, agent: str = DEFAULT_AGENT
) -> Callable[[int | None, str], OpsError]:
    """:func:`explain_exit` for one host, in the shape RemoteHost's ``explain_exit`` takes."""

    def explain(code: int | None, stderr: str) -> OpsError:
        return explain_exit(destination, code, stderr, agent=agent)

    return explain
