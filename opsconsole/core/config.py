"""Configuration: opsconsole's TOML file, flags, and supervisorctl-style discovery.

Precedence (highest first): command-line flags, the TOML file, discovery of supervisord's own
config (as supervisorctl does it), built-in defaults.
"""

from __future__ import annotations

import configparser
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opsconsole.core.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_REFRESH = 1.0
DEFAULT_TIMEOUT = 5.0
PASSWORD_ENV = "OPSCONSOLE_SUPERVISOR_PASSWORD"


@dataclass
class SupervisorTarget:
    """How to reach one supervisord.

    ``source`` names where the settings came from (shown in error messages). The password
    is never part of ``repr`` and never shown.
    """

    name: str
    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    source: str = "defaults"

    @property
    def display_url(self) -> str:
        return self.url


@dataclass
class NginxSettings:
    binary: str | None = None
    config: str | None = None


@dataclass
class AppConfig:
    supervisors: list[SupervisorTarget] = field(default_factory=list)
    read_only: bool = False
    theme: str | None = None
    refresh: float = DEFAULT_REFRESH
    timeout: float = DEFAULT_TIMEOUT
    nginx: NginxSettings = field(default_factory=NginxSettings)
    log_ring_size: int = 20000
    log_files: list[str] = field(default_factory=list)
    probes: list[dict[str, Any]] = field(default_factory=list)
    config_path: Path | None = None


def default_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "opsconsole" / "config.toml"


def supervisor_config_candidates(executable: str | None = None) -> list[Path]:
    """Where supervisorctl looks for its config when no ``-c`` is given, in order."""
    exe = Path(executable or sys.argv[0]).resolve()
    prefix = exe.parent.parent
    return [
        prefix / "etc" / "supervisord.conf",
        prefix / "supervisord.conf",
        Path.cwd() / "supervisord.conf",
        Path.cwd() / "etc" / "supervisord.conf",
        Path("/etc/supervisord.conf"),
        Path("/etc/supervisor/supervisord.conf"),
    ]


def find_supervisor_config(executable: str | None = None) -> Path | None:
    for candidate in supervisor_config_candidates(executable):
        if candidate.is_file():
            return candidate
    return None


def parse_supervisor_ini(text: str, path: Path) -> SupervisorTarget:
    """Read ``[supervisorctl]`` (and the server sections as fallback) from supervisord.conf.

    ``%(here)s`` expands to the config file's directory. Raises ConfigError when the file
    names no way to reach supervisord.
    """
    here = str(path.parent.resolve())
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as exc:
        raise ConfigError(
            f"{path} is not a valid supervisord config: {exc.__class__.__name__}",
            "fix the file or pass --supervisor-url",
        ) from exc

    def get(section: str, key: str) -> str | None:
        if parser.has_option(section, key):
            value = parser.get(section, key).replace("%(here)s", here).strip()
            return value or None
        return None

    url = get("supervisorctl", "serverurl")
    username = get("supervisorctl", "username")
    password = get("supervisorctl", "password")
    server_section = None
    if url is None:
        sock = get("unix_http_server", "file")
        port = get("inet_http_server", "port")
        if sock:
            url = "unix://" + sock
            server_section = "unix_http_server"
        elif port:
            host, _, portnum = port.rpartition(":")
            url = f"http://{host or 'localhost'}:{portnum}"
            server_section = "inet_http_server"
        else:
            url = "http://localhost:9001"
    elif url.startswith("unix://"):
        server_section = "unix_http_server"
    else:
        server_section = "inet_http_server"
    if username is None and server_section:
        username = get(server_section, "username")
        server_password = get(server_section, "password")
        if password is None and server_password and not server_password.startswith("{SHA}"):
            password = server_password
    return SupervisorTarget(
        name=path.stem if path.stem != "supervisord" else "local",
        url=url,
        username=username,
        password=password,
        source=f"[supervisorctl] in {path}",
    )


def load_supervisor_config(path: Path) -> SupervisorTarget:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ConfigError(
            f"cannot read supervisord config {path}: {exc.strerror}",
            "check the path given with -c, or its permissions",
        ) from exc
    return parse_supervisor_ini(text, path)


def _as_float(value: Any, key: str) -> float:
    try:
        result = float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{key} must be a number, got {value!r}") from exc
    if result <= 0:
        raise ConfigError(f"{key} must be greater than 0, got {value!r}")
    return result


def parse_toml_config(data: dict[str, Any], source: str) -> AppConfig:
    """Turn the parsed TOML document into AppConfig. Unknown keys are errors (typos matter)."""
    known = {
        "read_only",
        "theme",
        "refresh",
        "timeout",
        "supervisor",
        "nginx",
        "logs",
        "probes",
    }
    unknown = set(data) - known
    if unknown:
        raise ConfigError(
            f"unknown key(s) in {source}: {', '.join(sorted(unknown))}",
            f"valid keys: {', '.join(sorted(known))}",
        )

    def table(key: str, kinds: type | tuple[type, ...], what: str) -> Any:
        value = data.get(key)
        if value is not None and not isinstance(value, kinds):
            raise ConfigError(f"{key} in {source} must be {what}, got {value!r}")
        return value

    table("nginx", dict, "a table ([nginx])")
    table("logs", dict, "a table ([logs])")
    table("supervisor", (list, dict), "a list of tables ([[supervisor]])")
    table("probes", list, "a list of tables ([[probes]])")
    cfg = AppConfig()
    cfg.read_only = bool(data.get("read_only", False))
    theme = data.get("theme")
    cfg.theme = str(theme) if theme else None
    if "refresh" in data:
        cfg.refresh = _as_float(data["refresh"], "refresh")
    if "timeout" in data:
        cfg.timeout = _as_float(data["timeout"], "timeout")
    supervisors = data.get("supervisor") or []
    if isinstance(supervisors, dict):
        supervisors = [supervisors]
    for index, entry in enumerate(supervisors):
        if not isinstance(entry, dict):
            raise ConfigError(f"[[supervisor]] entry {index + 1} in {source} is not a table")
        if "config" in entry:
            target = load_supervisor_config(Path(str(entry["config"])).expanduser())
            target.name = str(entry.get("name", target.name))
        elif "url" in entry:
            target = SupervisorTarget(
                name=str(entry.get("name", f"supervisor{index + 1}")),
                url=str(entry["url"]),
                source=f"[[supervisor]] {entry.get('name', index + 1)} in {source}",
            )
        else:
            raise ConfigError(
                f"[[supervisor]] entry {index + 1} in {source} has neither url nor config",
                'add url = "unix:///run/supervisor.sock" or config = "/etc/supervisord.conf"',
            )
        if "username" in entry:
            target.username = str(entry["username"])
        if "password" in entry:
            target.password = str(entry["password"])
        cfg.supervisors.append(target)
    nginx = data.get("nginx") or {}
    if nginx:
        binary, conf = nginx.get("binary"), nginx.get("config")
        cfg.nginx = NginxSettings(
            binary=str(binary) if binary else None, config=str(conf) if conf else None
        )
    logs = data.get("logs") or {}
    if logs:
        if "ring_size" in logs:
            try:
                cfg.log_ring_size = int(logs["ring_size"])
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"logs.ring_size in {source} must be a number") from exc
            if cfg.log_ring_size < 100:
                raise ConfigError(f"logs.ring_size in {source} must be at least 100")
        files = logs.get("files") or []
        if not isinstance(files, list):
            raise ConfigError(f"logs.files in {source} must be a list of paths")
        cfg.log_files = [str(p) for p in files]
    probes = data.get("probes") or []
    cfg.probes = [dict(p) for p in probes if isinstance(p, dict)]
    return cfg


def load_toml(path: Path) -> AppConfig:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}", "fix the syntax") from exc
    cfg = parse_toml_config(data, str(path))
    cfg.config_path = path
    return cfg


def build_config(
    *,
    config_file: str | None = None,
    supervisor_conf: str | None = None,
    supervisor_urls: list[str] | None = None,
    user: str | None = None,
    password: str | None = None,
    read_only: bool | None = None,
    theme: str | None = None,
    refresh: float | None = None,
    timeout: float | None = None,
    environ: dict[str, str] | None = None,
) -> AppConfig:
    """Merge flags over the TOML file over supervisorctl-style discovery."""
    env = os.environ if environ is None else environ
    if config_file:
        cfg = load_toml(Path(config_file).expanduser())
    else:
        default = default_config_path()
        cfg = load_toml(default) if default.is_file() else AppConfig()
    if supervisor_conf:
        cfg.supervisors = [load_supervisor_config(Path(supervisor_conf).expanduser())]
    if supervisor_urls:
        cfg.supervisors = [
            SupervisorTarget(
                name="local" if len(supervisor_urls) == 1 else f"s{i + 1}",
                url=url,
                source="--supervisor-url",
            )
            for i, url in enumerate(supervisor_urls)
        ]
    if not cfg.supervisors:
        found = find_supervisor_config()
        if found is not None:
            cfg.supervisors = [load_supervisor_config(found)]
        else:
            cfg.supervisors = [
                SupervisorTarget(
                    name="local",
                    url="http://localhost:9001",
                    source="supervisorctl defaults (no supervisord.conf found)",
                )
            ]
    env_password = env.get(PASSWORD_ENV)
    for target in cfg.supervisors:
        if user is not None:
            target.username = user
            target.source = f"{target.source} and --user"
        if password is not None:
            target.password = password
        elif env_password and target.password is None:
            target.password = env_password
    if read_only is not None and read_only:
        cfg.read_only = True
    if theme:
        cfg.theme = theme
    if refresh is not None:
        cfg.refresh = _as_float(refresh, "--refresh")
    if timeout is not None:
        cfg.timeout = _as_float(timeout, "--timeout")
    return cfg
