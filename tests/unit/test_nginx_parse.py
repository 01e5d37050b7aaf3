"""Pure nginx parsers: diagnostics, -V, -T dumps, master titles, stub_status, listen,
proxy_pass, the crossplane config model, topology over synthetic machine facts, checks."""

from __future__ import annotations

import stat
import textwrap
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from opsconsole.core.nginx import (
    DUMP_MARKER,
    Facts,
    Listen,
    Listener,
    ProcFacts,
    build_topology,
    check_alias,
    failure_kind,
    find_listener,
    parse_build_info,
    parse_config,
    parse_diagnostic_line,
    parse_diagnostics,
    parse_listen,
    parse_master_cmdline,
    parse_proxy_pass,
    parse_stub_status,
    parse_version,
    run_checks,
    split_dump,
    topology_problems,
)
from opsconsole.core.supervisor import ProcessInfo, ProcessState

# --------------------------------------------------------------------------- diagnostics

SHAPE_PLAIN = 'nginx: [emerg] unknown directive "lisen" in /etc/nginx/conf.d/app.conf:3'
SHAPE_STAMPED = (
    "2026/11/24 23:44:19 [emerg] 2705#2705: unknown directive "
    '"lisen" in /etc/nginx/conf.d/bad.conf:1'
)


def test_both_output_shapes_give_file_and_line() -> None:
    a = parse_diagnostic_line(SHAPE_PLAIN)
    b = parse_diagnostic_line(SHAPE_STAMPED)
    assert a is not None and b is not None
    assert (a.level, a.message, a.file, a.line) == (
        "emerg",
        'unknown directive "lisen"',
        "/etc/nginx/conf.d/app.conf",
        3,
    )
    assert (b.level, b.file, b.line) == ("emerg", "/etc/nginx/conf.d/bad.conf", 1)
    assert a.category == b.category == "syntax"
    assert a.where == "/etc/nginx/conf.d/app.conf:3"


def test_warnings_are_kept_on_success_and_summaries_dropped() -> None:
    out = textwrap.dedent(
        """\
        nginx: [warn] conflicting server name "a" on 0.0.0.0:80, ignored
        nginx: the configuration file /etc/nginx/nginx.conf syntax is ok
        nginx: configuration file /etc/nginx/nginx.conf test is successful
        """
    )
    diags = parse_diagnostics(out)
    assert [(d.level, d.is_error) for d in diags] == [("warn", False)]
    assert failure_kind(diags) is None


def test_non_syntax_failures_are_told_apart() -> None:
    cases = {
        '2026/11/25 12:42:18 [emerg] 5210#5210: cannot load certificate "/x.pem": '
        "BIO_new_file() failed": "certificate",
        'nginx: [emerg] open() "/var/log/nginx/error.log" failed (13: Permission denied)': (
            "permission"
        ),
        'nginx: [emerg] open() "/run/nginx.pid" failed (2: No such file or directory)': (
            "pid-file"
        ),
        "nginx: [emerg] bind() to 0.0.0.0:80 failed (98: Address already in use)": "bind",
        'nginx: [emerg] host not found in upstream "backend" in /etc/nginx/x:12': "resolve",
    }
    for line, category in cases.items():
        diag = parse_diagnostic_line(line)
        assert diag is not None and diag.category == category, line
        assert failure_kind([diag]) == "environment"
    syntax = parse_diagnostics(SHAPE_PLAIN + "\n" + cases[next(iter(cases))])
    assert failure_kind(syntax) == "syntax"


def test_unleveled_junk_is_kept_as_error() -> None:
    diags = parse_diagnostics('nginx: invalid option: "x"\n\n')
    assert len(diags) == 1 and diags[0].is_error and diags[0].category == "other"


LEVEL = st.sampled_from(["emerg", "alert", "crit", "error", "warn", "notice"])
WORD = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=":"),
    min_size=1,
    max_size=12,
)


@given(
    level=LEVEL,
    msg=st.lists(WORD, min_size=1, max_size=6).map(" ".join),
    path=st.lists(WORD, min_size=1, max_size=4).map(lambda p: "/" + "/".join(p)),
    line=st.integers(min_value=1, max_value=10**6),
    stamped=st.booleans(),
    pid=st.integers(min_value=1, max_value=4_000_000),
)
def test_generated_diagnostics_roundtrip(
    level: str, msg: str, path: str, line: int, stamped: bool, pid: int
) -> None:
    prefix = f"2026/01/02 03:04:05 [{level}] {pid}#{pid}: " if stamped else f"nginx: [{level}] "
    diag = parse_diagnostic_line(f"{prefix}{msg} in {path}:{line}")
    assert diag is not None
    assert (diag.level, diag.message, diag.file, diag.line) == (level, msg, path, line)


@given(st.text())
def test_diagnostics_never_crash(text: str) -> None:
    for d in parse_diagnostics(text):
        assert d.level
        assert d.line is None or d.line >= 0


# --------------------------------------------------------------------------- -V, -v, -T

V_OUTPUT = """nginx version: nginx/1.22.1
built with OpenSSL 3.0.20 7 Apr 2026
TLS SNI support enabled
configure arguments: --with-cc-opt='-g -O2 -fPIC' --prefix=/usr/share/nginx \
--conf-path=/etc/nginx/nginx.conf --error-log-path=stderr --pid-path=/run/nginx.pid \
--with-http_stub_status_module --with-threads
"""


def test_build_info() -> None:
    info = parse_build_info(V_OUTPUT)
    assert info.version == "1.22.1"
    assert info.prefix == "/usr/share/nginx"
    assert info.conf_path == "/etc/nginx/nginx.conf"
    assert info.error_log_path == "stderr"
    assert info.has_stub_status
    assert info.options["with-cc-opt"] == "-g -O2 -fPIC"
    assert parse_version("nginx version: nginx/1.25.3\n") == "1.25.3"


@given(st.text())
def test_build_info_never_crashes(text: str) -> None:
    parse_build_info(text)
    parse_build_info("configure arguments: " + text)


def test_split_dump() -> None:
    text = (
        "# configuration file /etc/nginx/nginx.conf:\nevents {}\nhttp { include x; }\n\n"
        "# configuration file /etc/nginx/x:\nserver { listen 80; }\n\n"
    )
    assert split_dump(text) == [
        ("/etc/nginx/nginx.conf", "events {}\nhttp { include x; }\n"),
        ("/etc/nginx/x", "server { listen 80; }\n"),
    ]


CONTENT_LINE = st.text(
    alphabet=st.characters(
        exclude_categories=("Cs",),
        exclude_characters="\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029",
    ),
    max_size=30,
).filter(lambda s: not s.startswith(DUMP_MARKER))


@given(
    st.lists(
        st.tuples(
            st.lists(WORD, min_size=1, max_size=3).map(lambda p: "/" + "/".join(p)),
            st.lists(CONTENT_LINE, max_size=5).map(lambda ls: "".join(x + "\n" for x in ls)),
        ),
        max_size=4,
    )
)
def test_split_dump_roundtrip(files: list[tuple[str, str]]) -> None:
    text = "".join(f"{DUMP_MARKER}{path}:\n{content}\n" for path, content in files)
    assert split_dump(text) == files


# --------------------------------------------------------------------------- master title


def test_master_title_split_by_psutil() -> None:
    cmd = [
        "nginx:",
        "master",
        "process",
        "/usr/sbin/nginx",
        "-p",
        "/srv/n",
        "-c",
        "/srv/n/nginx.conf",
        "-g",
        "daemon",
        "off;",
    ]
    args = parse_master_cmdline(cmd)
    assert args is not None
    assert (args.binary, args.prefix, args.conf, args.globals) == (
        "/usr/sbin/nginx",
        "/srv/n",
        "/srv/n/nginx.conf",
        "daemon off;",
    )
    assert args.flags() == ["-p", "/srv/n", "-c", "/srv/n/nginx.conf", "-g", "daemon off;"]


def test_master_title_variants() -> None:
    one = parse_master_cmdline(["nginx: master process /usr/sbin/nginx -g daemon on; -c /e.conf"])
    assert one is not None and one.globals == "daemon on;" and one.conf == "/e.conf"
    glued = parse_master_cmdline(["nginx: master process nginx -c/x.conf"])
    assert glued is not None and glued.conf == "/x.conf" and glued.binary == "nginx"
    bare = parse_master_cmdline(["nginx: master process /usr/sbin/nginx"])
    assert bare is not None and bare.flags() == []
    assert parse_master_cmdline(["nginx: worker process"]) is None
    assert parse_master_cmdline(["/usr/bin/python3", "nginx: master process"]) is None


@given(st.lists(st.text(max_size=20), max_size=10))
def test_master_title_never_crashes(words: list[str]) -> None:
    args = parse_master_cmdline(["nginx: master process", *words])
    assert args is not None


# --------------------------------------------------------------------------- stub_status

STUB = (
    "Active connections: 3 \nserver accepts handled requests\n 10 10 42 \n"
    "Reading: 0 Writing: 1 Waiting: 2 \n"
)


def test_stub_status() -> None:
    s = parse_stub_status(STUB)
    assert (s.active, s.accepts, s.handled, s.requests) == (3, 10, 10, 42)
    assert (s.reading, s.writing, s.waiting) == (0, 1, 2)


@given(st.text())
def test_stub_status_rejects_or_parses(text: str) -> None:
    try:
        s = parse_stub_status(text)
    except ValueError:
        return
    assert s.active >= 0 and s.requests >= 0


# --------------------------------------------------------------------------- listen / proxy_pass


def test_listen_forms() -> None:
    assert parse_listen(["80"]) == Listen("*", 80)
    assert parse_listen(["127.0.0.1:8080", "default_server"]) == Listen(
        "127.0.0.1", 8080, default_server=True
    )
    assert parse_listen(["[::1]:443", "ssl"]) == Listen("::1", 443, ssl=True)
    assert parse_listen(["localhost"]) == Listen("localhost", 80)
    assert parse_listen(["unix:/run/x.sock"]).unix == "/run/x.sock"
    assert str(parse_listen(["*:81"])) == "*:81"


@given(st.lists(st.text(max_size=15), min_size=1, max_size=3))
def test_listen_never_crashes_unexpectedly(args: list[str]) -> None:
    try:
        lst = parse_listen(args)
    except ValueError:
        return
    assert lst.unix is not None or 0 < lst.port < 65536


def test_proxy_pass_forms() -> None:
    t = parse_proxy_pass("http://127.0.0.1:8000/app/")
    assert (t.host, t.port, t.path) == ("127.0.0.1", 8000, "/app/")
    up = parse_proxy_pass("http://api_backend/")
    assert (up.host, up.port) == ("api_backend", None)
    sock = parse_proxy_pass("http://unix:/run/gunicorn.sock:/x")
    assert sock.unix == "/run/gunicorn.sock" and sock.path == "/x"
    assert parse_proxy_pass("http://$backend").variable
    assert parse_proxy_pass("https://[::1]:8443").address == "[::1]:8443"


@given(st.text(max_size=40))
def test_proxy_pass_never_crashes(url: str) -> None:
    t = parse_proxy_pass(url)
    assert t.port is None or 0 < t.port < 65536


# --------------------------------------------------------------------------- config model


def _write(tmp: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp / "nginx.conf"


MAIN = """\
    error_log logs/error.log info;
    pid run/nginx.pid;
    events {}
    http {
        upstream app { server 127.0.0.1:9001; server unix:/run/app.sock; }
        server {
            listen 127.0.0.1:8080;
            server_name example.org;
            location / { proxy_pass http://app; }
            location /old { proxy_pass http://127.0.0.1:9002; }
            location /img { alias /data/images/; }
            location /files/ { alias /data/files; }
            location /static/ { root STATIC; }
            location = /status { stub_status; }
        }
        include conf.d/*.conf;
    }
"""


def test_config_model_follows_includes(tmp_path: Path) -> None:
    static = tmp_path / "www"
    static.mkdir()
    conf = _write(
        tmp_path,
        {
            "nginx.conf": MAIN.replace("STATIC", str(static)),
            "conf.d/extra.conf": "server { listen 9000; server_tokens on; }\n",
        },
    )
    cfg = parse_config(str(conf), str(tmp_path))
    assert cfg.errors == []
    assert str(tmp_path / "conf.d" / "extra.conf") in cfg.files
    assert cfg.error_log_files() == [str(tmp_path / "logs" / "error.log")]
    assert cfg.pid == str(tmp_path / "run" / "nginx.pid")
    assert [s.listens[0].port for s in cfg.servers] == [8080, 9000]
    extra = cfg.servers[1]
    assert extra.file.endswith("extra.conf") and extra.server_tokens == "on"
    assert cfg.stub_status_urls() == [("http://127.0.0.1:8080/status", "example.org")]
    assert [u.address for u in cfg.upstreams["app"].servers] == [
        "127.0.0.1:9001",
        "unix:/run/app.sock",
    ]


def test_parse_errors_are_reported_not_raised(tmp_path: Path) -> None:
    conf = _write(
        tmp_path,
        {"nginx.conf": "events {}\nhttp {\n include missing.conf;\n server { listen 80;\n"},
    )
    cfg = parse_config(str(conf), str(tmp_path))
    assert cfg.errors and all(e.is_error for e in cfg.errors)
    assert parse_config(str(tmp_path / "nope.conf"), str(tmp_path)).errors


def _programs() -> list[ProcessInfo]:
    return [
        ProcessInfo("web", "web", ProcessState.RUNNING, "RUNNING", 100, server="demo"),
        ProcessInfo("nginx", "nginx", ProcessState.RUNNING, "RUNNING", 50, server="demo"),
    ]


def _facts(tmp_path: Path) -> Facts:
    table = {
        50: ProcFacts(50, 1, "nginx", ("nginx: master process /usr/sbin/nginx",)),
        100: ProcFacts(100, 1, "gunicorn", ("python3", "/venv/bin/gunicorn", "-w", "2")),
        101: ProcFacts(101, 100, "gunicorn", ("python3", "/venv/bin/gunicorn", "-w", "2")),
    }
    return Facts(
        listeners=[Listener("127.0.0.1", 9001, 101), Listener("0.0.0.0", 8080, 50)],
        unix_listeners={},
        proc=table.get,
    )


def test_topology_chain_and_flags(tmp_path: Path) -> None:
    static = tmp_path / "www"
    static.mkdir()
    conf = _write(tmp_path, {"nginx.conf": MAIN.replace("STATIC", str(static))})
    cfg = parse_config(str(conf), str(tmp_path))
    root = build_topology(cfg, master_pid=50, programs=_programs(), facts=_facts(tmp_path))
    assert root.children[0].label == "supervisor program nginx"
    labels = [n.label for n in root.walk()]
    # location / -> upstream app -> 127.0.0.1:9001 -> gunicorn master 100 -> program web
    assert "gunicorn master 100" in labels
    gunicorn = next(n for n in root.walk() if n.kind == "gunicorn")
    assert gunicorn.children[0].label == "supervisor program web"
    problems = {(n.label, n.status) for n in topology_problems(root)}
    assert ("proxy_pass http://127.0.0.1:9002", "error") in problems  # nothing listens
    assert ("unix:/run/app.sock", "error") in problems
    assert ("alias /data/images/", "error") in problems  # path does not exist
    assert not any(n.label.startswith(f"root {static}") for n in topology_problems(root))
    server = next(n for n in root.walk() if n.kind == "server")
    assert server.status == "warn"  # a problem below is visible when folded


def test_checks(tmp_path: Path) -> None:
    conf = _write(tmp_path, {"nginx.conf": MAIN.replace("STATIC", str(tmp_path))})
    conf.chmod(0o664)
    cfg = parse_config(str(conf), str(tmp_path))
    topo = build_topology(cfg, master_pid=50, programs=_programs(), facts=_facts(tmp_path))
    findings = run_checks(cfg, topology=topo)
    kinds = {f.check for f in findings}
    assert {
        "alias-traversal",
        "alias-mismatch",
        "dead-upstream",
        "server-tokens",
        "writable-config",
        "missing-path",
    } <= kinds
    traversal = next(f for f in findings if f.check == "alias-traversal")
    assert "/img" in traversal.message and traversal.line == 11
    conf.chmod(0o644)
    quiet = run_checks(parse_config(str(conf), str(tmp_path)))
    assert "writable-config" not in {f.check for f in quiet}


def test_server_tokens_off_is_quiet(tmp_path: Path) -> None:
    conf = _write(
        tmp_path, {"nginx.conf": "events {}\nhttp { server_tokens off; server { listen 81; } }\n"}
    )
    cfg = parse_config(str(conf), str(tmp_path))
    findings = run_checks(cfg, mode_of=lambda p: stat.S_IFREG | 0o644)
    assert findings == []


def test_alias_check_is_quiet_when_slashes_agree() -> None:
    from opsconsole.core.nginx import Location

    assert check_alias(Location("", "/static/", "f", 1, alias="/srv/static/")) is None
    assert check_alias(Location("", "/static", "f", 1, alias="/srv/static")) is None
    assert check_alias(Location("~", "/x", "f", 1, alias="/srv/x/")) is None


def test_find_listener_wildcards() -> None:
    listeners = [Listener("0.0.0.0", 80, 7), Listener("127.0.0.1", 81, None)]
    found = find_listener(listeners, "127.0.0.1", 80)
    assert found is not None and found.pid == 7
    assert find_listener(listeners, "localhost", 81) is not None
    assert find_listener(listeners, "127.0.0.1", 82) is None


NAMED = """\
    events {}
    http {
        upstream app_server { server 127.0.0.1:9001; }
        server {
            listen 127.0.0.1:8080;
            root WWW;
            location / {
                try_files $uri @proxy_to_app;
            }
            location /gone { try_files $uri @nowhere; }
            location @proxy_to_app { proxy_pass http://app_server; }
        }
    }
"""


def test_named_location_label_and_try_files_link(tmp_path: Path) -> None:
    conf = _write(tmp_path, {"nginx.conf": NAMED.replace("WWW", str(tmp_path))})
    cfg = parse_config(str(conf), str(tmp_path))
    locations = {loc.label: loc for loc in cfg.servers[0].locations}
    assert set(locations) == {"location /", "location /gone", "location @proxy_to_app"}
    assert locations["location /"].named_fallback == "@proxy_to_app"
    assert locations["location /"].try_files == ("$uri", "@proxy_to_app")
    root = build_topology(cfg, master_pid=50, programs=_programs(), facts=_facts(tmp_path))
    slash = next(n for n in root.walk() if n.label == "location /")
    link = next(n for n in slash.children if n.label == "try_files → location @proxy_to_app")
    assert (link.file, link.line) == (str(conf), 8) and link.status == "ok"
    # / -> @proxy_to_app -> upstream app_server -> 127.0.0.1:9001 -> gunicorn 100 -> web
    upstream = link.children[0]
    assert upstream.label == "upstream app_server"
    gunicorn = upstream.children[0].children[0]
    assert gunicorn.label == "gunicorn master 100"
    assert gunicorn.children[0].label == "supervisor program web"
    # a fallback to a named location that does not exist: nginx -t passes, requests get 500
    gone = next(n for n in root.walk() if n.label == "location /gone")
    missing = gone.children[-1]
    assert missing.status == "error" and "no location @nowhere" in missing.detail
    assert gone.status == "warn"
    findings = [f for f in run_checks(cfg, topology=root) if f.check == "missing-named-location"]
    assert len(findings) == 1 and findings[0].line == 10


def test_process_chain_skips_a_shell_wrapper_and_names_the_master() -> None:
    from opsconsole.core.nginx import process_chain_node

    argv = ("/venv/bin/python", "/venv/bin/gunicorn", "-w", "2", "app:app")
    shell = ("/bin/sh", "-c", "/venv/bin/gunicorn -w 2 app:app; echo exited")
    table = {
        1: ProcFacts(1, 0, "supervisord", ("/venv/bin/python", "/venv/bin/supervisord")),
        200: ProcFacts(200, 1, "sh", shell),
        201: ProcFacts(201, 200, "gunicorn", argv),
        202: ProcFacts(202, 201, "gunicorn", argv),
    }
    programs = [ProcessInfo("web", "web", ProcessState.RUNNING, "RUNNING", 200, server="demo")]
    facts = Facts(proc=table.get)
    for listener in (202, 201):  # the socket is seen on a worker or on the master
        node = process_chain_node(listener, programs, facts)
        assert (node.kind, node.pid, node.label) == ("gunicorn", 201, "gunicorn master 201")
        assert node.children[0].label == "supervisor program web"
    # another user's processes: no command line, only the name says gunicorn
    hidden = {pid: ProcFacts(p.pid, p.ppid, p.name, ()) for pid, p in table.items()}
    node = process_chain_node(202, programs, Facts(proc=hidden.get))
    assert node.kind == "gunicorn" and node.pid == 201
