"""Errors as they travel: :class:`HostError` (kind, message, hint) and back to OpsError."""

from __future__ import annotations

from dataclasses import dataclass

from opsconsole.core.errors import OpsError
from opsconsole.core.host.codec import HostProtocolError, Snapshot

#: Error kinds in operator words, by exception class name (the ``kind`` of a HostError).
ERROR_WORDS: dict[str, str] = {
    "Unreachable": "unreachable",
    "NotResponding": "not responding",
    "AuthFailed": "auth failed",
    "ReadOnlyError": "read-only",
    "ConfirmationRequired": "needs confirmation",
    "ProcessChanged": "process changed",
    "ScaleRefused": "refused",
    "MasterNotFound": "not found",
    "NoSuchProcess": "not found",
    "ConfigError": "bad config",
    "HostProtocolError": "protocol",
    "ProtocolMismatch": "version skew",
    "HostDown": "unreachable",
    "HostNotResponding": "not responding",
    # the ssh transport's failures (opsconsole.core.ssh), in a word or two for a table cell
    "BadDestination": "bad host",
    "SshHostUnknown": "host unknown",
    "SshConnectionRefused": "refused",
    "SshTimeout": "timed out",
    "SshHostKeyChanged": "host key changed",
    "SshHostKeyUnknown": "host key unknown",
    "SshAuthFailed": "auth failed",
    "AgentNotInstalled": "not installed",
    "AgentTooOld": "version skew",
    "SshConnectionLost": "connection lost",
}


class HostDown(OpsError):
    """The agent of a remote host cannot be reached: it could not be started, it exited, or
    the link to it was reset (a bound broken, garbage read)."""


class HostNotResponding(OpsError):
    """The agent of a remote host did not answer in time (its link is up, or was)."""


class ProtocolMismatch(HostProtocolError):
    """The console and the agent speak different versions of the agent protocol."""


@dataclass(frozen=True)
class HostError(Snapshot):
    """An error as it travels: ``kind`` is the OpsError subclass's name (``Unreachable``,
    ``ReadOnlyError``, ``ProcessChanged`` ...), ``message`` what happened, ``hint`` what to
    do; ``code`` is supervisord's fault code when it answered with one."""

    kind: str
    message: str
    hint: str = ""
    code: int = 0

    @classmethod
    def of(cls, exc: OpsError) -> HostError:
        return cls(type(exc).__name__, exc.message, exc.hint, int(getattr(exc, "code", 0) or 0))

    @property
    def words(self) -> str:
        """The kind in operator words (``unreachable``, ``read-only`` ...)."""
        return ERROR_WORDS.get(self.kind, "error")

    def exception(self) -> OpsError:
        """The typed exception again: the OpsError subclass named ``kind`` when this process
        knows one (else OpsError), with the same message and hint."""
        cls = _error_classes().get(self.kind, OpsError)
        exc = cls.__new__(cls)
        OpsError.__init__(exc, self.message, self.hint)
        if cls.__init__ is not OpsError.__init__:  # e.g. supervisor's RPCFault(code, ...)
            exc.code = self.code  # type: ignore[attr-defined]
            exc.fault_string = ""  # type: ignore[attr-defined]
        return exc


def _error_classes() -> dict[str, type[OpsError]]:
    found: dict[str, type[OpsError]] = {"OpsError": OpsError}
    todo: list[type[OpsError]] = [OpsError]
    while todo:
        for sub in todo.pop().__subclasses__():
            found.setdefault(sub.__name__, sub)
            todo.append(sub)
    return found
