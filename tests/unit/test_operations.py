"""The registry of operations (core.operations) and the CLI agree: every operation's CLI verb
is a real subcommand, and every CLI subcommand that changes something (it asks for --yes) is a
registered, mutating operation. The parser is built through the CLI's public build_parser."""

from __future__ import annotations

import argparse

from opsconsole.cli import build_parser
from opsconsole.core import actions
from opsconsole.core.commands import COMMANDS
from opsconsole.core.operations import KEYS, OPERATIONS, VERBS


def subcommands(
    parser: argparse.ArgumentParser, prefix: str = ""
) -> dict[str, argparse.ArgumentParser]:
    """{"start": parser, "nginx reload": parser, ...}: every subcommand, nested ones too."""
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                path = f"{prefix} {name}".strip()
                found[path] = child
                found.update(subcommands(child, path))
    return found


def asks_yes(parser: argparse.ArgumentParser) -> bool:
    return any("--yes" in a.option_strings for a in parser._actions)


def test_every_cli_verb_of_the_registry_is_a_subcommand() -> None:
    commands = subcommands(build_parser())
    missing = [
        f"{op.id}: {op.cli}" for op in OPERATIONS.values() if op.cli and op.cli not in commands
    ]
    assert missing == []


def test_every_mutating_cli_subcommand_is_a_registered_operation() -> None:
    """A subcommand that asks for --yes changes something: the registry names it, as a
    mutating operation (the gate refuses it in read-only mode and audits it)."""
    by_cli = {op.cli: op for op in OPERATIONS.values() if op.cli}
    unregistered = []
    for name, parser in subcommands(build_parser()).items():
        if asks_yes(parser):
            op = by_cli.get(name)
            if op is None or not op.mutating:
                unregistered.append(name)
    assert unregistered == []
    for op in by_cli.values():
        if op.mutating:
            assert asks_yes(subcommands(build_parser())[op.cli or ""]), op.id


def test_the_gate_reads_the_registry() -> None:
    assert actions.OPERATIONS is OPERATIONS
    assert actions.operation("supervisor.restart").confirm
    assert not actions.operation("nginx.test").mutating


def test_commands_are_the_registry_verbs_in_order() -> None:
    assert list(COMMANDS) == [v.name for v in VERBS]
    for v in VERBS:
        spec = COMMANDS[v.name]
        assert (spec.usage, spec.help, spec.min_args, spec.max_args) == (
            v.usage,
            v.help,
            v.min_args,
            v.max_args,
        )
        assert spec.op_id == (v.op if OPERATIONS[v.op].mutating else None)


def test_one_verb_one_key_for_what_changes_something() -> None:
    """A key that runs a mutating operation means the same kind of thing wherever it is
    bound (K: a signal, R: a reload), and nothing else anywhere."""
    family = {k.op: k.op.split(".")[-1].removeprefix("worker_") for k in KEYS}
    by_key: dict[str, set[str]] = {}
    mutating_keys = {k.key for k in KEYS if OPERATIONS[k.op].mutating}
    for k in KEYS:
        if k.key in mutating_keys and k.scope != "log":
            by_key.setdefault(k.key, set()).add(family[k.op])
    assert {key: f for key, f in by_key.items() if len(f) > 1} == {}
    signal_keys = {k.key for k in KEYS if family[k.op] == "signal"}
    reload_keys = {k.key for k in KEYS if family[k.op] == "reload"}
    assert signal_keys == {"K"} and reload_keys == {"R"}
