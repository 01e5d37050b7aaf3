"""The demo's WSGI app: small, but with the failure modes an operator meets.

/          hello
/slow?s=N  sleeps N seconds (max 120)
/error     raises: 500, traceback in gunicorn's error log
/log?n=N   writes N log lines to stderr
/health    "ok"
/break     from now on every request of this gunicorn master fails with a 500 (a bad deploy);
           restarting the program fixes it (the flag is tied to the master's pid)
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

logging.basicConfig(
    stream=sys.stderr,
    level=logging.INFO,
    format="%(asctime)s [%(process)d] [%(levelname)s] %(name)s: %(message)s",
)
log = logging.getLogger("demo.app")

StartResponse = Callable[..., Any]


def _int(query: dict[str, list[str]], key: str, default: int, limit: int) -> int:
    try:
        return max(0, min(limit, int(query.get(key, [str(default)])[0])))
    except ValueError:
        return default


def _broken_flag() -> str | None:
    state_dir = os.environ.get("DEMO_STATE_DIR")
    return os.path.join(state_dir, f"broken-{os.getppid()}") if state_dir else None


def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    path = environ.get("PATH_INFO", "/")
    query = parse_qs(environ.get("QUERY_STRING", ""))
    name = os.environ.get("DEMO_APP_NAME", "demo")
    flag = _broken_flag()
    if path == "/break" and flag:
        with open(flag, "w") as fh:
            fh.write("broken\n")
        log.error("%s: broken on purpose; restart the program to recover", name)
    if flag and os.path.exists(flag):
        raise RuntimeError(f"{name}: database connection pool exhausted (demo failure)")
    if path == "/slow":
        seconds = _int(query, "s", 1, 120)
        time.sleep(seconds)
        body = f"{name}: slept {seconds} s\n"
    elif path == "/error":
        raise RuntimeError(f"{name}: deliberate failure from /error")
    elif path == "/log":
        count = _int(query, "n", 10, 1_000_000)
        for i in range(count):
            log.info("demo log line %d of %d", i + 1, count)
        body = f"{name}: wrote {count} log lines\n"
    elif path == "/health":
        body = "ok\n"
    else:
        body = f"hello from {name} (pid {os.getpid()})\n"
    data = body.encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
    return [data]
