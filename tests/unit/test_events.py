from __future__ import annotations

from opsconsole.core.events import WorkerSet, process_changes, worker_changes
from opsconsole.core.supervisor import ProcessInfo


def ws(pid: int, *workers: int) -> WorkerSet:
    return WorkerSet("web", pid, frozenset(workers))


def texts(events: list) -> list[str]:  # type: ignore[type-arg]
    return [f"{e.level}:{e.text}" for e in events]


def test_worker_count_change_and_replacement() -> None:
    assert texts(worker_changes({"web": ws(1, 10, 11)}, {"web": ws(1, 10, 11, 12)})) == [
        "info:workers 2 → 3"
    ]
    (event,) = worker_changes({"web": ws(1, 10, 11)}, {"web": ws(1, 10, 12)})
    assert event.level == "warning" and event.text.startswith("worker 11 replaced by 12")
    assert worker_changes({"web": ws(1, 10)}, {"web": ws(1, 10)}) == []


def test_master_restart_and_gone() -> None:
    (event,) = worker_changes({"web": ws(1, 10)}, {"web": ws(2, 20)})
    assert "master restarted: pid 1 → 2" in event.text
    (gone,) = worker_changes({"web": ws(1, 10)}, {})
    assert "is gone" in gone.text


def p(name: str, state: str, code: int, pid: int = 0, exitstatus: int = 0) -> ProcessInfo:
    return ProcessInfo.from_rpc(
        {"name": name, "statename": state, "state": code, "pid": pid, "exitstatus": exitstatus}
    )


def test_process_transitions() -> None:
    before = {x.key: x for x in [p("web", "RUNNING", 20, 5), p("api", "RUNNING", 20, 6)]}
    after = [p("web", "RUNNING", 20, 7), p("api", "EXITED", 100, 0, exitstatus=3)]
    got = texts(process_changes(before, after))
    assert "warning:restarted: pid 5 → 7" in got
    assert "warning:RUNNING → EXITED (exit status 3)" in got
    fatal = process_changes(
        {x.key: x for x in after}, [p("web", "RUNNING", 20, 7), p("api", "FATAL", 200)]
    )
    assert texts(fatal) == ["error:EXITED → FATAL"]


def test_a_second_master_with_the_same_name_is_not_a_restart() -> None:
    assert worker_changes({"web": ws(1, 10)}, {"web": ws(2, 20)}, alive=lambda pid: True) == []


def test_a_master_of_another_supervisord_with_our_programs_name_is_not_our_restart() -> None:
    """Our program ``api`` stopped (its master gone); another supervisord's gunicorn named
    ``api`` (not one of our programs) runs on: our master is gone, nothing restarted."""
    from opsconsole.core.events import worker_key

    ours = worker_key("api", "demo", "api")
    theirs = worker_key(None, None, "api")
    assert ours != theirs
    events = worker_changes({ours: ws(1, 10)}, {theirs: ws(2, 20)})
    assert texts(events) == ["warning:gunicorn master 1 is gone"]
    # the same program restarted by its supervisord is still a restart
    (event,) = worker_changes({ours: ws(1, 10)}, {worker_key("api", "demo", "api"): ws(3, 30)})
    assert "master restarted: pid 1 → 3" in event.text
