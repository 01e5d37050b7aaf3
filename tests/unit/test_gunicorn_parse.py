"""Pure gunicorn parsing: command lines, titles, config files, scale specs, flags, and the
control-socket frames (fuzzed with hypothesis)."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opsconsole.core.gunicorn import (
    DEFAULT_TIMEOUT,
    STUCK_GRACE,
    GunicornError,
    Master,
    ScaleRefused,
    classify,
    effective_worker_class,
    flag_label,
    is_gunicorn,
    is_heartbeat_link,
    launch_index,
    log_paths,
    merge_args,
    parse_argv,
    parse_config_py,
    parse_options,
    parse_scale_spec,
    plan_scale,
    scale_target,
    short_worker_class,
    title_of,
    worker_flags,
)
from opsconsole.core.gunicorn.control import (
    MAX_FRAME,
    CommandFailed,
    FrameError,
    decode_frame,
    encode_frame,
    make_request,
    parse_stats,
    parse_workers,
    response_data,
)
from opsconsole.core.local import master_of
from opsconsole.core.procs import ProcIdentity

VENV = "/srv/app/.venv/bin"
WEB = [
    f"{VENV}/python3",
    f"{VENV}/gunicorn",
    "-w",
    "2",
    "-b",
    "127.0.0.1:8001",
    "--name",
    "web",
    "--pid",
    "/run/web.pid",
    "--error-logfile",
    "/var/log/web-error.log",
    "--timeout",
    "30",
    "--control-socket",
    "/run/web.ctl",
    "app:app",
]


# --------------------------------------------------------------------------- command lines


@pytest.mark.parametrize(
    ("argv", "index"),
    [
        (["gunicorn", "app:app"], 1),
        (["/usr/bin/gunicorn", "-w", "3", "app:app"], 1),
        ([f"{VENV}/python3", f"{VENV}/gunicorn", "app:app"], 2),
        (["python3.11", "-m", "gunicorn", "-w", "4", "app:app"], 3),
        (["python", "-u", "-X", "dev", "-m", "gunicorn", "app:app"], 6),
        (["python3", "-mgunicorn", "app:app"], 2),
        (["python3", "-m", "http.server"], None),
        (["python3", "manage.py", "runserver"], None),
        (["gunicornc", "-s", "/run/web.ctl"], None),
        (["nginx", "-g", "daemon off;"], None),
        ([], None),
    ],
)
def test_launch_index_finds_gunicorn_behind_any_launcher(
    argv: list[str], index: int | None
) -> None:
    assert launch_index(argv) == index


def test_parse_argv_reads_every_setting_the_console_shows() -> None:
    args = parse_argv(WEB)
    assert args is not None
    assert args.workers == 2
    assert args.binds == ["127.0.0.1:8001"]
    assert args.name == "web"
    assert args.pidfile == "/run/web.pid"
    assert args.error_log == "/var/log/web-error.log"
    assert args.timeout == 30
    assert args.control_socket == "/run/web.ctl"
    assert args.worker_class is None  # not given: gunicorn's default applies


def test_parse_options_accepts_every_spelling() -> None:
    argv = "-w4 --worker-class=gthread -t 5 --bind=unix:/run/a.sock -b :80"
    argv += " --no-control-socket --log-file - -pweb.pid -c conf.py"
    args = parse_options(argv.split())
    assert args.workers == 4
    assert args.worker_class == "gthread"
    assert args.timeout == 5
    assert args.binds == ["unix:/run/a.sock", ":80"]
    assert args.control_socket_disabled
    assert args.error_log == "-"
    assert args.pidfile == "web.pid"
    assert args.config == "conf.py"


def test_parse_options_ignores_bad_numbers_and_a_missing_value() -> None:
    args = parse_options(["-w", "many", "--timeout"])
    assert args.workers is None and "workers" in args.opaque  # gunicorn refuses it: unknown
    assert args.timeout is None


@given(st.lists(st.text(max_size=20), max_size=30))
def test_parse_options_never_raises(argv: list[str]) -> None:
    parse_options(argv)
    parse_argv(argv)
    title_of(argv)
    is_gunicorn(argv)


def test_titles_from_setproctitle() -> None:
    assert title_of(["gunicorn: master [web]"]) == ("master", "web")
    # psutil splits a title without NUL separators on spaces
    assert title_of(["gunicorn:", "worker", "[api]"]) == ("worker", "api")
    assert title_of(["gunicorn: dirty-arbiter [x]"]) == ("other", "x")
    assert title_of(WEB) is None


def test_classify_with_and_without_setproctitle() -> None:
    # with setproctitle: the title says it
    assert classify(["gunicorn: master [web]"], ["/usr/bin/supervisord"]) == "master"
    assert classify(["gunicorn: worker [web]"], ["gunicorn: master [web]"]) == "worker"
    # without: a child running the master's command line is a worker
    assert classify(WEB, ["/usr/bin/python3", "/usr/bin/supervisord"]) == "master"
    assert classify(WEB, WEB) == "worker"
    assert classify(WEB, ["/bin/sh", "-c", "exec gunicorn"]) == "master"
    # a child with children of its own command line is a new master (USR2 upgrade)
    assert classify(WEB, WEB, has_same_children=True) == "master"
    assert classify(["sleep", "10"], WEB) is None


def test_config_file_literals_are_read_and_computed_values_are_unknown() -> None:
    text = (
        "import multiprocessing\n"
        "bind = ['127.0.0.1:8000', 'unix:/run/app.sock']\n"
        "workers = multiprocessing.cpu_count() * 2 + 1\n"
        "timeout = 12\n"
        "worker_class = 'gthread'\n"
        "errorlog = '/var/log/app.log'\n"
        "proc_name = 'shop'\n"
    )
    args = parse_config_py(text)
    assert args.binds == ["127.0.0.1:8000", "unix:/run/app.sock"]
    assert args.workers is None and "workers" in args.opaque
    assert args.timeout == 12
    assert args.worker_class == "gthread"
    assert args.error_log == "/var/log/app.log"
    assert args.name == "shop"
    assert parse_config_py("workers = 3\n").workers == 3
    assert parse_config_py("def (:\n").workers is None  # not Python: nothing read


@given(st.text(max_size=300))
def test_config_parser_never_raises(text: str) -> None:
    parse_config_py(text)


def test_command_line_wins_over_env_and_config_file() -> None:
    file_args = parse_config_py("workers = 3\ntimeout = 10\nbind = '0.0.0.0:80'\n")
    env_args = parse_options(["--timeout", "20"])
    cmd_args = parse_options(["-w", "5"])
    merged = merge_args(file_args, env_args, cmd_args)
    assert (merged.workers, merged.timeout, merged.binds) == (5, 20, ["0.0.0.0:80"])


@pytest.mark.parametrize(
    ("value", "short"),
    [
        (None, "sync"),
        ("gthread", "gthread"),
        ("<class 'gunicorn.workers.sync.SyncWorker'>", "sync"),
        ("gunicorn.workers.gthread.ThreadWorker", "gthread"),
        ("gunicorn.workers.ggevent.GeventWorker", "gevent"),
        ("uvicorn.workers.UvicornWorker", "uvicorn"),
    ],
)
def test_worker_class_short_names(value: str | None, short: str) -> None:
    assert short_worker_class(value) == short


# --------------------------------------------------------------------------- scale specs


@pytest.mark.parametrize(
    ("spec", "parsed", "from_4"),
    [("+1", ("+", 1), 5), ("-3", ("-", 3), 1), ("2", ("=", 2), 2), (" +10 ", ("+", 10), 14)],
)
def test_scale_specs(spec: str, parsed: tuple[str, int], from_4: int) -> None:
    assert parse_scale_spec(spec) == parsed
    assert scale_target(4, parsed) == from_4


@pytest.mark.parametrize("spec", ["", "+0", "-0", "abc", "2.5", "++1", "1e3", "+ 1"])
def test_bad_scale_specs_are_rejected_with_a_hint(spec: str) -> None:
    with pytest.raises(GunicornError) as info:
        parse_scale_spec(spec)
    assert info.value.hint or "changes nothing" in info.value.message


def _master(live: int, *, ctl: str | None = None, target: int | None = None) -> Master:
    master = Master(
        pid=4242,
        identity=ProcIdentity(4242, 1.0, ("gunicorn",)),
        name="web",
        program="web",
        live=live,
        control_socket=ctl,
    )
    if target is not None:
        master.target, master.target_source = target, "control socket"
    return master


def test_plan_says_exactly_what_is_sent() -> None:
    assert (
        plan_scale(_master(4), "-1").description
        == "send TTOU to gunicorn master 4242 (web): 4 -> 3 workers"
    )
    assert (
        plan_scale(_master(2), "5").description
        == "send TTIN 3 times to gunicorn master 4242 (web): 2 -> 5 workers"
    )
    plan = plan_scale(_master(2, ctl="/run/web.ctl", target=3), "+2")
    assert plan.method == "control socket"
    assert plan.before == 3  # the master's own target, not the live count
    assert plan.description == (
        "send 'worker add 2' on control socket /run/web.ctl to gunicorn master 4242 (web): "
        "3 -> 5 workers"
    )


def test_plan_refuses_below_one_and_no_change() -> None:
    with pytest.raises(ScaleRefused, match="at least 1"):
        plan_scale(_master(1), "-1")
    with pytest.raises(ScaleRefused, match="at least 1"):
        plan_scale(_master(3), "0")
    with pytest.raises(ScaleRefused, match="nothing to do"):
        plan_scale(_master(3), "3")


def test_drift_note_explains_a_restart_returns_to_configured() -> None:
    master = _master(4)
    master.configured = 2
    assert master.drift_note == (
        "running 4 workers, configured 2: restarting the program returns to 2"
    )
    master.live = 2
    assert master.drift_note is None


# --------------------------------------------------------------------------- flags


def test_worker_flags() -> None:
    # heartbeat refreshed every timeout/2: up to that (plus slack) is healthy
    assert worker_flags(15.0, 30, 100, 100.0) == []
    assert worker_flags(15.0 + STUCK_GRACE + 0.1, 30, 100, 100.0) == ["stuck"]
    assert worker_flags(1.0, 30, 250, 100.0) == ["rss-high"]
    assert worker_flags(1.0, 30, 200, 100.0) == []  # 2x exactly is not above
    assert worker_flags(None, 30, None, None, "stopped") == ["stopped"]
    assert flag_label(["stuck", "rss-high"]) == "◆ stuck  ▲ RSS>2×median"


def test_heartbeat_links() -> None:
    assert is_heartbeat_link("/tmp/wgunicorn-6dptu4yh (deleted)")
    assert is_heartbeat_link("/dev/shm/wgunicorn-abc (deleted)")
    assert not is_heartbeat_link("/tmp/wgunicorn-6dptu4yh")  # not unlinked: not ours
    assert not is_heartbeat_link("/var/log/web-error.log")
    assert not is_heartbeat_link("socket:[10652]")


# --------------------------------------------------------------------------- frames

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
messages = st.dictionaries(st.text(max_size=10), json_values, max_size=6)


def test_request_frame_matches_gunicorn_wire_format() -> None:
    frame = encode_frame(make_request(7, "show", ["workers"]))
    (length,) = struct.unpack(">I", frame[:4])
    assert length == len(frame) - 4
    assert json.loads(frame[4:]) == {"id": 7, "command": "show", "args": ["workers"]}


@given(messages, st.binary(max_size=16))
def test_frames_round_trip_and_leave_the_rest(message: dict[str, Any], tail: bytes) -> None:
    decoded, rest = decode_frame(encode_frame(message) + tail)
    assert decoded == message
    assert rest == tail


@given(messages, st.integers(min_value=0, max_value=200))
def test_partial_frames_wait_for_more(message: dict[str, Any], cut: int) -> None:
    frame = encode_frame(message)
    cut = min(cut, len(frame) - 1)
    assert decode_frame(frame[:cut]) == (None, frame[:cut])


@settings(max_examples=300)
@given(st.binary(max_size=64))
def test_garbage_gives_a_clear_frame_error_or_waits(data: bytes) -> None:
    try:
        message, rest = decode_frame(data)
    except FrameError as exc:
        assert exc.message
    else:
        assert message is None or isinstance(message, dict)
        assert len(rest) <= len(data)


@given(st.integers(min_value=MAX_FRAME + 1, max_value=2**32 - 1))
def test_oversized_length_is_refused_before_the_payload_arrives(length: int) -> None:
    with pytest.raises(FrameError, match="limit"):
        decode_frame(struct.pack(">I", length) + b"{")


@pytest.mark.parametrize(
    ("payload", "words"),
    [(b"\xff\xfe", "not UTF-8"), (b"{nope", "not valid JSON"), (b"[1, 2]", "not an object")],
)
def test_malformed_payloads_say_what_is_wrong(payload: bytes, words: str) -> None:
    with pytest.raises(FrameError, match=words):
        decode_frame(struct.pack(">I", len(payload)) + payload)


def test_response_data_and_errors() -> None:
    assert response_data({"id": 1, "status": "ok", "data": {"count": 2}}, 1) == {"count": 2}
    with pytest.raises(CommandFailed, match="Unknown command: frob"):
        response_data({"id": 1, "status": "error", "error": "Unknown command: frob"}, 1)
    with pytest.raises(FrameError, match="expected 2"):
        response_data({"id": 1, "status": "ok", "data": {}}, 2)
    with pytest.raises(FrameError, match="unknown status"):
        response_data({"id": 1}, 1)


def test_show_answers_are_parsed() -> None:
    stats = parse_stats(
        {"uptime": 12.5, "pid": 10, "workers_current": 3, "workers_target": 4, "reloads": 1}
    )
    assert (stats.pid, stats.uptime, stats.workers_current, stats.workers_target) == (
        10,
        12.5,
        3,
        4,
    )
    workers = parse_workers(
        {
            "workers": [
                {"pid": 11, "age": 1, "booted": True, "aborted": False, "last_heartbeat": 0.5},
                {"pid": "x"},
                "junk",
                {"pid": 12, "last_heartbeat": None},
            ]
        }
    )
    assert [(w.pid, w.last_heartbeat) for w in workers] == [(11, 0.5), (12, None)]


@given(st.dictionaries(st.text(max_size=20), json_values, max_size=8))
def test_answer_parsers_never_raise(data: dict[str, Any]) -> None:
    parse_stats(data)
    parse_workers(data)
    parse_workers({"workers": [data]})


# --------------------------------------------------------------------------- issue 20: read
# settings exactly as gunicorn does (its own parser, static config files, unknown said so)

CORPUS = Path(__file__).resolve().parents[1] / "configs" / "gunicorn"


def corpus_expectation(path: Path) -> dict[str, str]:
    """The ``# expect: key=value ...`` line of a corpus file."""
    for line in path.read_text().splitlines():
        if line.startswith("# expect:"):
            return dict(item.split("=", 1) for item in line.removeprefix("# expect:").split())
    raise AssertionError(f"{path.name} has no '# expect:' line")


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.py")), ids=lambda p: p.stem)
def test_corpus_configs_read_statically_as_gunicorn_runs_them(path: Path) -> None:
    expect = corpus_expectation(path)
    args = parse_config_py(path.read_text())
    workers = expect["workers"]
    if workers == "unknown":
        assert args.workers is None and "workers" in args.opaque
    elif workers == "default":
        assert args.workers is None and "workers" not in args.opaque
    else:
        assert args.workers == int(workers) and "workers" not in args.opaque
    if expect["timeout"] == "unknown":
        assert args.timeout is None and "timeout" in args.opaque
    else:
        assert (args.timeout or DEFAULT_TIMEOUT) == int(expect["timeout"])
        assert "timeout" not in args.opaque
    assert effective_worker_class(args) == expect["worker_class"]
    if "bind" in expect:
        assert args.binds == [expect["bind"]]


@pytest.mark.parametrize(
    ("text", "workers", "timeout"),
    [
        # annotated assignments are assignments
        ("workers: int = 4\ntimeout: int = 60\n", 4, 60),
        # an annotation without a value sets nothing
        ("workers: int\n", None, None),
        # the last assignment wins, literal or not
        ("workers = 2\nworkers = 5\n", 5, None),
        ("workers = 2\nimport os\nworkers = int(os.environ['W'])\n", "?", None),
        ("workers = cpu_count()\nworkers = 3\n", 3, None),
        # constant folding: arithmetic, names bound above, augmented assignment
        ("timeout = 5 * 60\n", None, 300),
        ("T = 2\ntimeout = T ** 3 + 1\nworkers = 3\nworkers += 1\n", 4, 9),
        ("timeout = -(-90)\n", None, 90),
        # gunicorn's validators: "4" becomes 4; a float is refused by gunicorn itself
        ("workers = '4'\n", 4, None),
        ("workers = 2.5\n", "?", None),
        # a branch, a loop, a hook's globals or exec: unknown
        ("workers = 2\nif DEBUG:\n    workers = 1\n", "?", None),
        ("for workers in range(3):\n    pass\n", "?", None),
        ("def post_fork(server, worker):\n    global timeout\n    timeout = 1\n", None, "?"),
        ("exec('workers = 9')\n", "?", "?"),
        # a hook's local variable is not a setting
        ("def when_ready(server):\n    workers = 9\nworkers = 2\n", 2, None),
        # bounded: no 2 ** 10 ** 10, no 'a' * 10 ** 9
        ("timeout = 2 ** 10 ** 10\n", None, "?"),
        ("workers = len('a' * 10 ** 9)\n", "?", None),
    ],
)
def test_config_files_are_read_in_order_with_constants_folded(
    text: str, workers: int | str | None, timeout: int | str | None
) -> None:
    args = parse_config_py(text)
    for name, want in (("workers", workers), ("timeout", timeout)):
        if want == "?":
            assert getattr(args, name) is None and name in args.opaque, (name, args)
        else:
            assert getattr(args, name) == want and name not in args.opaque, (name, args)


@pytest.mark.parametrize(
    ("options", "file_text", "env", "worker_class"),
    [
        # gunicorn switches the default sync class to gthread when threads > 1
        ("--threads 4", "", "", "gthread"),
        ("--threads=4 -k sync", "", "", "gthread"),
        ("--threads 4 -k gunicorn.workers.sync.SyncWorker", "", "", "gthread"),
        ("--threads 1", "", "", "sync"),
        ("", "threads = 4\n", "", "gthread"),
        ("", "", "--threads 2", "gthread"),
        # the class is explicit and not sync: threads do not change it
        ("-k gevent --threads 4", "", "", "gevent"),
        # threads computed with the sync class: sync or gthread, unknown
        ("", "import os\nthreads = int(os.environ['T'])\n", "", None),
        ("-k gthread", "import os\nthreads = int(os.environ['T'])\n", "", "gthread"),
        # the command line's threads override a computed one in the file
        ("--threads 3", "import os\nthreads = int(os.environ['T'])\n", "", "gthread"),
    ],
)
def test_worker_class_is_the_one_gunicorn_runs(
    options: str, file_text: str, env: str, worker_class: str | None
) -> None:
    merged = merge_args(
        parse_config_py(file_text), parse_options(env.split()), parse_options(options.split())
    )
    assert effective_worker_class(merged) == worker_class


def test_precedence_is_gunicorns_file_then_env_then_command_line() -> None:
    file_args = parse_config_py("import os\nworkers = os.cpu_count()\ntimeout = 5 * 60\n")
    env_args = parse_options(["--workers", "3"])
    # GUNICORN_CMD_ARGS settles the file's computed count; the file's timeout stands
    merged = merge_args(file_args, env_args, parse_options(["app:app"]))
    assert (merged.workers, merged.timeout, merged.opaque) == (3, 300, [])
    # the command line beats both
    merged = merge_args(file_args, env_args, parse_options(["-w", "5", "-t", "7"]))
    assert (merged.workers, merged.timeout) == (5, 7)
    # nothing settles it: unknown, not a default
    merged = merge_args(file_args, None, parse_options(["app:app"]))
    assert merged.workers is None and "workers" in merged.opaque


def test_command_lines_are_parsed_by_gunicorns_own_parser() -> None:
    # abbreviations gunicorn's argparse accepts; an ambiguous one makes gunicorn exit
    assert parse_options(["--timeo", "12", "app:app"]).timeout == 12
    refused = parse_options(["--work", "3", "app:app"])
    assert refused.workers is None and "workers" in refused.opaque
    # options after the app, and options gunicorn has that we do not read
    args = parse_options(["--preload", "app:app", "--max-requests", "100", "-w", "3"])
    assert args.workers == 3
    # gunicorn's validators: a negative count is refused (gunicorn would not start)
    assert parse_options(["-w", "-1", "app:app"]).workers is None
    # -h / --version never print or exit from inside the console
    for exits in (["--version"], ["-h"]):
        args = parse_options(exits)
        assert args.workers is None and args.timeout is None and "timeout" in args.opaque


@pytest.mark.parametrize(
    "argv",
    [
        ["/usr/bin/gunicorn-3", "-w", "3", "app:app"],  # Fedora/RHEL/EPEL python3-gunicorn
        ["/usr/bin/gunicorn-3.6", "-w", "3", "app:app"],  # EPEL's versioned name
        ["/usr/bin/gunicorn3", "-w", "3", "app:app"],  # Debian/Ubuntu python3-gunicorn < 20
        ["/usr/bin/python3", "/usr/bin/gunicorn3", "-w", "3", "app:app"],
        ["python3", "-m", "gunicorn", "-w", "3", "app:app"],
        ["python3.11", "-m", "gunicorn", "-w", "3", "app:app"],
        ["/usr/bin/python3", "-Im", "gunicorn", "-w", "3", "app:app"],
        ["python3", "-m", "gunicorn.app.wsgiapp", "-w", "3", "app:app"],
    ],
)
def test_distribution_launchers_are_gunicorn(argv: list[str]) -> None:
    assert is_gunicorn(argv)
    args = parse_argv(argv)
    assert args is not None and args.workers == 3


@pytest.mark.parametrize(
    "argv",
    [
        ["gunicornc", "-s", "/run/web.ctl"],
        ["gunicorn-4", "app:app"],
        ["python3", "-m", "gunicornish"],
        ["python3", "-c", "import gunicorn"],
        ["python3", "-W", "gunicorn", "manage.py"],
    ],
)
def test_near_misses_are_not_gunicorn(argv: list[str]) -> None:
    assert not is_gunicorn(argv)


def test_unknown_settings_are_said_not_defaulted() -> None:
    identity = ProcIdentity(1, 0.0, ("gunicorn",))
    master = Master(
        pid=1,
        identity=identity,
        name="web",
        configured=None,
        worker_class="unknown",
        unknown=["worker_class", "timeout"],
    )
    data = master_of(master).tree_json()
    assert data["configured"] is None and data["timeout"] is None
    assert data["worker_class"] == "unknown"
    assert set(data["unknown"]) == {"workers", "worker_class", "timeout"}
    assert master.timeout_text == "unknown"
    # a timeout it cannot read never marks a worker stuck
    assert worker_flags(10_000.0, float("inf"), None, None) == []


# --------------------------------------------------------------------------- peer proof


def test_plan_uses_signals_when_the_path_answers_for_another_master() -> None:
    master = _master(2, ctl="/run/gunicorn.ctl")
    master.flags.append("ctl-shared")
    plan = plan_scale(master, "+1")
    assert (plan.method, plan.action, plan.before) == ("signal", "TTIN", 2)
    assert flag_label(["ctl-shared"]) == "⇄ ctl: shared path, not used"


def test_client_talks_only_to_the_listener_it_expects(tmp_path: Path) -> None:
    """A real unix socket served by this process: the kernel names it (SO_PEERCRED); a client
    made for another process sends nothing, one made for this process gets its answer."""
    import os
    import socket
    import threading

    from opsconsole.core.gunicorn.control import (
        ControlClient,
        NotTheMaster,
        decode_frame,
        encode_frame,
        peer_pid,
    )

    path = str(tmp_path / "ctl")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(4)
    received: list[dict[str, Any]] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                buffer = b""
                while True:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    message, buffer = decode_frame(buffer + chunk)
                    if message is not None:
                        received.append(message)
                        reply = {"id": message["id"], "status": "ok", "data": {"pid": 1}}
                        conn.sendall(encode_frame(reply))
                        break

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.connect(path)
            assert peer_pid(probe) == os.getpid()
        other = ProcIdentity.of(os.getppid())
        stranger = ControlClient(path, expect=other, retry_for=0.1)
        for command, args in (("show", ["stats"]), ("worker", ["add", "1"])):
            with pytest.raises(NotTheMaster, match=f"answered by pid {os.getpid()} "):
                stranger.command(command, args)
        assert stranger.sent == [] and received == []
        # the same pid started at another time (a reused pid) is refused too
        reused = ProcIdentity(os.getpid(), 1.0, ())
        with pytest.raises(NotTheMaster, match="not the master started"):
            ControlClient(path, expect=reused, retry_for=0.1).command("show", ["stats"])
        assert received == []
        mine = ControlClient(path, expect=ProcIdentity.of(os.getpid()))
        assert mine.command("show", ["stats"]) == {"pid": 1}
        assert [m["command"] for m in received] == ["show"]
    finally:
        server.shutdown(socket.SHUT_RDWR)  # wakes the accept()
        server.close()
        thread.join(timeout=5)
        assert not thread.is_alive()


small_ints = st.integers(min_value=-1000, max_value=1000).map(str)


@st.composite
def arithmetic(draw: st.DrawFn, depth: int = 3) -> str:
    if depth == 0 or draw(st.booleans()):
        return draw(small_ints)
    op = draw(st.sampled_from(["+", "-", "*", "//", "%", "**"]))
    return f"({draw(arithmetic(depth - 1))} {op} {draw(arithmetic(depth - 1))})"


@settings(max_examples=300, deadline=1000)
@given(arithmetic())
def test_folding_agrees_with_python_or_says_unknown(expr: str) -> None:
    """Folded constants are what Python computes; what cannot be folded within bounds (a huge
    power, division by zero, a negative count gunicorn refuses) is unknown, never a guess.
    Finishing at all is part of the test: ``**`` chains must not hang the reader."""
    args = parse_config_py(f"timeout = {expr}\n")
    if "**" in expr:
        # the reference itself would not finish for some chains; bounded powers are
        # checked one by one in test_config_files_are_read_in_order_with_constants_folded
        assert args.timeout is not None or "timeout" in args.opaque
        return
    try:
        want: object = eval(expr, {"__builtins__": {}})  # integers and + - * // % only
    except ArithmeticError:
        want = None
    if args.timeout is not None:
        assert args.timeout == want
    else:
        assert "timeout" in args.opaque
        assert not (isinstance(want, int) and 0 <= want <= 2**62), want


def test_log_paths_are_read_by_gunicorns_own_parser() -> None:
    cmd = ["gunicorn", "-w", "2", "--access-logfile", "/var/log/a.log"]
    cmd += ["--error-logfile=/var/log/e.log", "app:app"]
    assert log_paths(cmd) == {"access": "/var/log/a.log", "error": "/var/log/e.log"}
    assert log_paths(["gunicorn", "--log-file", "/x.log"]) == {"error": "/x.log"}
    assert log_paths(["gunicorn", "--error-logfile", "-"]) == {}
    assert log_paths(["gunicorn", "--access-logfile"]) == {}
    # spellings gunicorn accepts that a hand-made flag scanner missed: an unambiguous prefix,
    # ``python -m gunicorn``
    assert log_paths(["python3", "-m", "gunicorn", "--error-log", "/e.log", "app:app"]) == {
        "error": "/e.log"
    }
    # a command that is not gunicorn's names no gunicorn log, whatever its flags
    assert log_paths(["python3", "app.py", "--error-logfile", "/x.log"]) == {}
