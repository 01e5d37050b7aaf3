"""Errors with operator words: what happened and what to check."""

from __future__ import annotations


class OpsError(Exception):
    """Base of every error opsconsole shows to an operator.

    ``message`` says what happened; ``hint`` says what to do about it.
    """

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message


class ConfigError(OpsError):
    """A config file or a flag is wrong."""


class ReadOnlyError(OpsError):
    """A mutating operation was attempted in read-only mode."""


class ConfirmationRequired(OpsError):
    """A dangerous operation was attempted without an explicit confirmation."""


class ProcessChanged(OpsError):
    """The pid no longer belongs to the process that was shown (pid reuse)."""
