"""A bare real supervisord in a temp dir: only the programs it is given (no gunicorn, no
nginx). For the fleet's tests and benchmark, where each "host" needs its own supervisord and a
full :class:`~opsconsole.demo.stack.DemoStack` per host would cost too much.

It listens on a unix socket in its directory (mode 0700, no password: only its user can
reach it); ``conf_path`` is what ``opsconsole -c`` and ``opsconsole agent -c`` are given.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

#: A program that does nothing for a long time (what a scaled host runs many of).
SLEEPER = "/bin/sleep 86400"


class BareSupervisord:
    """``programs`` (name -> command) under a supervisord of their own in ``root`` (a new
    temp dir when None). :meth:`start` waits until every program is RUNNING."""

    def __init__(self, programs: Mapping[str, str], root: Path | None = None) -> None:
        self.owned = root is None
        self.root = Path(tempfile.mkdtemp(prefix="opsconsole-bare-")) if root is None else root
        self.root.mkdir(parents=True, exist_ok=True)
        self.programs = dict(programs)
        self.sock = self.root / "supervisor.sock"
        self.conf_path = self.root / "supervisord.conf"
        self.logs = self.root / "logs"
        self.proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def sleepers(cls, count: int, root: Path | None = None) -> BareSupervisord:
        """``count`` programs ``p000``... each running :data:`SLEEPER`."""
        return cls({f"p{i:03d}": SLEEPER for i in range(count)}, root)

    @property
    def url(self) -> str:
        return f"unix://{self.sock}"

    def log_path(self, program: str) -> Path:
        return self.logs / f"{program}.out.log"

    def _conf(self) -> str:
        parts = [
            f"[unix_http_server]\nfile={self.sock}\nchmod=0700\n",
            f"[supervisord]\nlogfile={self.logs}/supervisord.log\n"
            f"pidfile={self.root}/supervisord.pid\nnodaemon=true\nminfds=1024\n",
            "[rpcinterface:supervisor]\n"
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n",
            f"[supervisorctl]\nserverurl=unix://{self.sock}\n",
        ]
        for name, command in self.programs.items():
            parts.append(
                f"[program:{name}]\ncommand={command}\nstartsecs=0\nautorestart=true\n"
                f"stopasgroup=true\nkillasgroup=true\n"
                f"stdout_logfile={self.log_path(name)}\n"
                f"stderr_logfile={self.logs}/{name}.err.log\n"
                "stdout_logfile_maxbytes=1MB\nstderr_logfile_maxbytes=1MB\n"
            )
        return "\n".join(parts)

    def start(self, timeout: float = 120.0) -> None:
        """Start supervisord and wait until every program is RUNNING. Raises RuntimeError
        (with what it saw) when that does not happen within ``timeout``."""
        self.logs.mkdir(exist_ok=True)
        self.conf_path.write_text(self._conf())
        binary = Path(sys.executable).parent / "supervisord"
        self.proc = subprocess.Popen(
            [str(binary), "-c", str(self.conf_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"supervisord in {self.root} exited ({self.proc.returncode})")
            last = self._status()
            states = [line.split()[1] for line in last.splitlines() if len(line.split()) > 1]
            if len(states) == len(self.programs) and all(s == "RUNNING" for s in states):
                return
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"supervisord in {self.root} not ready: {last[-500:]}")

    def _status(self) -> str:
        ctl = Path(sys.executable).parent / "supervisorctl"
        try:
            done = subprocess.run(
                [str(ctl), "-c", str(self.conf_path), "status"],
                capture_output=True,
                text=True,
                timeout=30,
            )
        except subprocess.TimeoutExpired:
            return ""
        return done.stdout

    def stop(self) -> None:
        """Stop supervisord (its programs with it) and remove a temp dir it made."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.owned:
            shutil.rmtree(self.root, ignore_errors=True)
