"""Reading /proc/PID/stat directly gives what psutil gives; the fd pass with its cache still
sees every socket (this process's own /proc entries: no process is started)."""

from __future__ import annotations

import os
import socket
import tempfile
from typing import Any

import psutil

from opsconsole.core.gunicorn.processes import fd_facts
from opsconsole.core.procs import UsageSampler, parse_stat, read_stat, start_time


def test_parse_stat_survives_a_command_name_with_spaces_and_parentheses() -> None:
    fields = ["S", "77", *["0"] * 9, "250", "150", *["0"] * 4, "5", "0", "12345", "0", "300"]
    line = b"4242 (we) (ird) name) " + " ".join(fields).encode() + b" 0 0 0\n"
    facts = parse_stat(line)
    assert facts is not None
    assert facts.ppid == 77
    assert facts.status == psutil.STATUS_SLEEPING
    assert facts.threads == 5
    assert facts.start_ticks == 12345
    assert facts.rss == 300 * os.sysconf("SC_PAGE_SIZE")
    assert parse_stat(b"garbage") is None


def test_read_stat_agrees_with_psutil_for_this_process() -> None:
    me = psutil.Process(os.getpid())
    facts = read_stat(os.getpid())
    assert facts is not None
    assert facts.ppid == me.ppid()
    assert facts.threads == me.num_threads()
    assert start_time(facts, psutil.boot_time()) == me.create_time()
    assert abs(facts.rss - me.memory_info().rss) < 16 * 1024 * 1024
    times = me.cpu_times()
    assert facts.cpu_seconds <= times.user + times.system + 0.05
    assert read_stat(2**22 + 12345) is None  # no such pid


def test_usage_sampler_sums_a_tree_like_psutil() -> None:
    sampler = UsageSampler()
    usage = sampler.tree(os.getpid())
    assert usage is not None and usage.nprocs >= 1
    assert usage.rss >= psutil.Process(os.getpid()).memory_info().rss // 2
    assert sampler.tree(2**22 + 12345) is None


def test_usage_sampler_reading_only_the_asked_trees_counts_what_a_full_walk_counts() -> None:
    # the trees under init's children (what is running on the machine; none started here)
    roots = [*[p.pid for p in psutil.Process(1).children()][:30], os.getpid()]

    def both(pids: list[int]) -> tuple[dict[int, Any], dict[int, Any]]:
        kids, usage = UsageSampler()._table(None)  # every process on the machine
        return {pid: UsageSampler._sum(pid, kids, usage) for pid in pids}, UsageSampler().sample(
            pids
        )

    full, trees = both(roots)
    assert trees[os.getpid()].nprocs >= 1
    for pid in roots:
        # Processes start and end between the two reads (a supervisord of another test
        # spawning its 300 programs): a tree that differs is read again, a few times.
        for _ in range(5):
            expected, got = full[pid], trees.get(pid)
            if expected is None or got is None:
                break  # ended in between
            if abs(got.nprocs - expected.nprocs) <= 2:
                break
            full, trees = both([pid])
        else:
            raise AssertionError((pid, got, expected))


def test_cached_fd_pass_sees_new_sockets_and_drops_closed_ones() -> None:
    known: dict[str, str] = {}
    with tempfile.TemporaryFile() as fh:
        number = str(fh.fileno())
        _, sockets = fd_facts(os.getpid(), known)
        assert sockets is not None
        assert number in known  # a plain file: not read again next time
        a, b = socket.socketpair()
        try:
            _, after = fd_facts(os.getpid(), known)
            assert after is not None
            inodes = {os.fstat(a.fileno()).st_ino, os.fstat(b.fileno()).st_ino}
            assert inodes <= after, "a socket opened since the last pass is seen"
        finally:
            a.close()
            b.close()
        _, closed = fd_facts(os.getpid(), known)
        assert closed is not None and not (inodes & closed)
