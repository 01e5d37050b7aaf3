"""Configuration: opsconsole's TOML file, flags, and supervisorctl-style discovery.

Precedence (highest first): command-line flags, the TOML file, discovery of supervisord's own
config (as supervisorctl does it), built-in defaults.
"""

from __future__ import annotations

import configparser
import gc
import io
import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from supervisor.datatypes import inet_address
from supervisor.options import ClientOptions, UnhosedConfigParser, normalize_path

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

    def __post_init__(self) -> None:
        # The URL is shown (status, errors, the audit trail): never with a password in it.
        try:
            secret = urlsplit(self.url).password is not None
        except ValueError:
            secret = False
        if secret:
            raise ConfigError(
                f"the supervisor URL from {self.source} carries a password (user:password@): "
                "it would be shown on screen and in the audit trail",
                "drop it from the URL and give it as password = ... in the config file, or "
                f"in {PASSWORD_ENV}",
            )

    @property
    def display_url(self) -> str:
        return self.url


@dataclass
class NginxSettings:
    binary: str | None = None
    config: str | None = None


@dataclass
class HostSettings:
    """One host of a fleet (``[[host]]`` or ``--host``): ``ssh`` is the destination as ssh
    takes it (``local`` for this machine), ``agent`` the command run there. The supervisor
    and nginx settings are passed to that host's agent (a password over the SSH channel, never
    on a command line)."""

    name: str
    ssh: str
    agent: str = "opsconsole agent"
    supervisor_config: str | None = None
    supervisor_urls: list[str] = field(default_factory=list)
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    nginx: NginxSettings = field(default_factory=NginxSettings)
    source: str = "--host"


@dataclass
class AppConfig:
    supervisors: list[SupervisorTarget] = field(default_factory=list)
    hosts: list[HostSettings] = field(default_factory=list)
    ssh_config: str | None = None
    read_only: bool = False
    theme: str | None = None
    refresh: float = DEFAULT_REFRESH
    timeout: float = DEFAULT_TIMEOUT
    nginx: NginxSettings = field(default_factory=NginxSettings)
    log_ring_size: int = 20000
    log_files: list[str] = field(default_factory=list)
    probes: list[dict[str, Any]] = field(default_factory=list)
    #: the [[alert]] tables, checked by opsconsole.core.alerts.parse_rules when loaded
    alerts: list[dict[str, Any]] = field(default_factory=list)
    config_path: Path | None = None


def default_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "opsconsole" / "config.toml"


def supervisor_config_candidates(executable: str | None = None) -> list[Path]:
    """Where supervisorctl looks for its config when no ``-c`` is given, in order.

    The list is ``ClientOptions.searchpaths``: supervisorctl builds it from its own location
    (``<prefix>/etc/supervisord.conf``, ``<prefix>/supervisord.conf`` for
    ``<prefix>/bin/supervisorctl``), then the working directory, then ``/etc``. ``executable``
    defaults to the ``supervisorctl`` the operator would run (the one on ``PATH``), else the one
    installed next to this Python, else this program.
    """
    if executable is None:
        sibling = Path(sys.executable).parent / "supervisorctl"
        executable = (
            shutil.which("supervisorctl")
            or (str(sibling) if sibling.exists() else None)
            or sys.argv[0]
        )
    here = os.path.dirname(os.path.dirname(executable))
    return [
        Path(os.path.join(here, "etc", "supervisord.conf")),
        Path(os.path.join(here, "supervisord.conf")),
        Path("supervisord.conf"),
        Path("etc", "supervisord.conf"),
        Path("/etc/supervisord.conf"),
        Path("/etc/supervisor/supervisord.conf"),
    ]


def find_supervisor_config(executable: str | None = None) -> Path | None:
    """The first candidate that exists (``os.path.exists``, as supervisorctl checks), made
    absolute so that messages name it unambiguously."""
    for candidate in supervisor_config_candidates(executable):
        if candidate.exists():
            return Path(os.path.abspath(candidate))
    return None


class _ClientOptions(ClientOptions):  # type: ignore[misc]
    """supervisorctl's own option reader, minus ``[ctlplugin:x]`` imports: opsconsole runs no
    supervisorctl plugins, and reading a config must not import code named in it."""

    def get_plugins(self, parser: Any, factory_key: str, section_prefix: str) -> list[Any]:
        return []


@dataclass
class _Server:
    """One ``[unix_http_server]`` / ``[inet_http_server]`` section, read as supervisord does."""

    section: str
    url: str
    username: str | None
    password: str | None


_LOOPBACK = {"", "*", "localhost", "127.0.0.1", "::1", "[::1]"}


def _server_sections(parser: Any, here: str) -> list[_Server]:
    """The HTTP server sections as supervisord reads them (``server_configs_from_parser``):
    ``%(here)s`` and ``%(ENV_X)s`` expanded, a socket ``file`` normalised, ``*:port`` on every
    interface (so reachable at localhost). Unix sockets first."""
    found: list[_Server] = []
    for kind in ("unix_http_server", "inet_http_server"):
        for section in parser.sections():
            if section != kind and not section.startswith(kind + ":"):
                continue
            user = parser.saneget(section, "username", None)
            password = parser.saneget(section, "password", None)
            if kind == "unix_http_server":
                sfile = parser.saneget(section, "file", None, expansions={"here": here})
                if not sfile or not sfile.strip():
                    continue
                url = "unix://" + normalize_path(sfile.strip())
            else:
                port = parser.saneget(section, "port", None)
                if not port:
                    continue
                host, number = inet_address(port)
                url = f"http://{host or 'localhost'}:{number}"
            found.append(_Server(section, url, user, password))
    return found


def _same_server(url: str, server: _Server) -> bool:
    """Does ``url`` (a serverurl) address this server section?"""
    if url.startswith("unix://") or server.url.startswith("unix://"):
        return url == server.url
    ours, theirs = urlsplit(url), urlsplit(server.url)
    try:
        ports = ours.port, theirs.port
    except ValueError:
        return False
    if ports[0] != ports[1]:
        return False
    a, b = ours.hostname or "", theirs.hostname or ""
    return a == b or (a in _LOOPBACK and b in _LOOPBACK)


def _redacted(message: str, secrets: list[str]) -> str:
    """supervisor's expansion errors quote the raw value: never show a password that way, and
    leave out the list of every environment variable name it appends."""
    message = message.split(". Available names:")[0]
    for secret in secrets:
        if secret:
            message = message.replace(repr(secret), "'***'").replace(secret, "***")
    return message


def parse_supervisor_ini(
    text: str, path: Path, environ: Mapping[str, str] | None = None
) -> SupervisorTarget:
    """Read supervisord.conf the way ``supervisorctl -c path`` does, with supervisor's own code.

    ``ClientOptions`` (what supervisorctl runs) reads ``[supervisorctl]``: inline ``;``
    comments, ``%(here)s`` in serverurl, ``%(ENV_X)s`` everywhere, the default serverurl
    ``http://localhost:9001``, a ``unix://`` path made absolute (``~`` expanded, relative to the
    working directory). ``environ`` stands for ``os.environ`` in the ``%(ENV_X)s`` expansions.

    Two fallbacks, each only where supervisorctl itself fails, each named in ``source``:

    * no ``[supervisorctl]`` section (supervisorctl refuses the file): the server section,
      a unix socket first;
    * ``[supervisorctl]`` sends no credentials but the server section it addresses requires
      some (supervisorctl gets "Server requires authentication"): that section's username and
      password, unless the password is a ``{SHA}`` digest (then none: never a user without one).

    Raises ConfigError for a file supervisorctl rejects (and the fallback cannot rescue).
    """
    env = os.environ if environ is None else environ
    here = os.path.dirname(normalize_path(str(path)))
    parser = UnhosedConfigParser()
    parser.expansions = {f"ENV_{k}": v for k, v in env.items()}
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as exc:
        raise ConfigError(
            f"{path} is not a valid supervisord config: {_syntax_problem(exc)}",
            "supervisorctl -c refuses it too: fix the file, or pass --supervisor-url",
        ) from None
    secrets = [v for s in parser.sections() for k, v in parser.items(s) if k == "password"]
    try:
        if not parser.has_section("supervisorctl"):
            return _fallback_target(path, _server_sections(parser, here))
        options = _ClientOptions()
        options.environ_expansions = dict(parser.expansions)
        options.here = here
        options.configfile = io.StringIO(text)
        options.process_config(do_usage=False)
    except ValueError as exc:
        raise ConfigError(
            f"{path} is not a valid supervisord config: {_redacted(str(exc), secrets)}",
            "supervisorctl -c refuses it too: fix the file, or pass --supervisor-url",
        ) from None
    url: str = options.serverurl
    username: str | None = options.username
    password: str | None = options.password
    source = f"[supervisorctl] in {path}"
    if username is None or password is None:
        # supervisorctl sends credentials only when it has both: a server that wants some
        # refuses it. Then, and only then, the server section's own (if it can be read).
        try:
            servers = _server_sections(parser, here)
        except ValueError:
            servers = []
        server = next((s for s in servers if _same_server(url, s)), None)
        if server is not None and _plain_password(server):
            username, password = server.username, server.password
            source = (
                f"[{server.section}] in {path} (fallback: [supervisorctl] has no "
                "username/password, so supervisorctl is refused)"
            )
    return SupervisorTarget(
        name=_target_name(path), url=url, username=username, password=password, source=source
    )


def _plain_password(server: _Server) -> bool:
    """Credentials we can send: a username and a password that is not a ``{SHA}`` digest."""
    return (
        server.username is not None
        and server.password is not None
        and not server.password.startswith("{SHA}")
    )


def _syntax_problem(exc: configparser.Error) -> str:
    """Where the file is broken, by line number only (the line may hold a password)."""
    if isinstance(exc, configparser.MissingSectionHeaderError):
        return f"line {exc.lineno} comes before any [section] header"
    if isinstance(exc, configparser.ParsingError):
        lines = ", ".join(str(lineno) for lineno, _ in exc.errors[:5])
        return f"line(s) {lines} are neither [section] nor key=value"
    return exc.__class__.__name__


def _target_name(path: Path) -> str:
    return path.stem if path.stem != "supervisord" else "local"


def _fallback_target(path: Path, servers: list[_Server]) -> SupervisorTarget:
    """No ``[supervisorctl]`` section: supervisorctl stops there. We use the server section."""
    if not servers:
        raise ConfigError(
            f"{path} has no [supervisorctl] section and no [unix_http_server] or "
            "[inet_http_server] to reach supervisord by",
            "supervisorctl -c refuses it too: add [supervisorctl] serverurl=..., "
            "or pass --supervisor-url",
        )
    server = servers[0]
    plain = _plain_password(server)
    return SupervisorTarget(
        name=_target_name(path),
        url=server.url,
        username=server.username if plain else None,
        password=server.password if plain else None,
        source=f"[{server.section}] in {path} (fallback: no [supervisorctl] section, "
        "which supervisorctl requires)",
    )


def load_supervisor_config(
    path: Path, environ: Mapping[str, str] | None = None
) -> SupervisorTarget:
    """Read a supervisord.conf as ``supervisorctl -c path`` does (see parse_supervisor_ini)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ConfigError(
            f"cannot read supervisord config {path}: {exc.strerror}",
            "check the path given with -c, or its permissions",
        ) from exc
    # Read without the cyclic garbage collector: at 300 programs the parsers make ~13,000
    # objects, none in a cycle, and the collections they set off walk everything imported
    # (20-30 ms of the console's start for nothing; refcounts free what the parse leaves).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return parse_supervisor_ini(text, path, environ)
    finally:
        if collecting:
            gc.enable()


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
        "alert",
        "host",
        "ssh_config",
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
    table("alert", list, "a list of tables ([[alert]])")
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
    if data.get("alert"):
        from opsconsole.core.alerts import parse_rules  # checked now: a typo fails at start

        parse_rules(data["alert"], source)
        cfg.alerts = [dict(a) for a in data["alert"]]
    table("host", list, "a list of tables ([[host]])")
    cfg.hosts = [_host_entry(e, i, source) for i, e in enumerate(data.get("host") or [])]
    names = [h.name for h in cfg.hosts]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"[[host]] name(s) used twice in {source}: {', '.join(twice)}")
    if data.get("ssh_config") is not None:
        cfg.ssh_config = str(Path(str(data["ssh_config"])).expanduser())
    return cfg


_HOST_KEYS = {
    "name",
    "ssh",
    "agent",
    "supervisor_config",
    "supervisor_url",
    "user",
    "password",
    "nginx_bin",
    "nginx_conf",
}


def _host_entry(entry: Any, index: int, source: str) -> HostSettings:
    """One ``[[host]]`` table: name and ssh (destination) are needed, the rest optional."""
    where = f"[[host]] entry {index + 1} in {source}"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} is not a table")
    unknown = set(entry) - _HOST_KEYS
    if unknown:
        raise ConfigError(
            f"unknown key(s) in {where}: {', '.join(sorted(unknown))}",
            f"valid keys: {', '.join(sorted(_HOST_KEYS))}",
        )
    ssh = entry.get("ssh")
    name = entry.get("name", ssh)
    if not isinstance(ssh, str) or not ssh.strip() or not isinstance(name, str) or not name:
        raise ConfigError(
            f"{where} needs ssh (the destination, as ssh takes it)",
            'e.g. name = "web1" and ssh = "deploy@web1.example.com" (or "local")',
        )
    urls = entry.get("supervisor_url") or []
    if isinstance(urls, str):
        urls = [urls]
    if not isinstance(urls, list):
        raise ConfigError(f"supervisor_url in {where} must be a URL or a list of URLs")

    def text(key: str) -> str | None:
        value = entry.get(key)
        return None if value is None else str(value)

    return HostSettings(
        name=name,
        ssh=ssh.strip(),
        agent=text("agent") or "opsconsole agent",
        supervisor_config=text("supervisor_config"),
        supervisor_urls=[str(u) for u in urls],
        user=text("user"),
        password=text("password"),
        nginx=NginxSettings(binary=text("nginx_bin"), config=text("nginx_conf")),
        source=f"[[host]] {name} in {source}",
    )


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


def select_hosts(entries: list[HostSettings], names: list[str]) -> list[HostSettings]:
    """The hosts ``--host`` names, in order: a ``[[host]]`` entry by name, else an ssh
    destination as given (``local`` is this machine). Raises ConfigError (BadDestination)
    for a destination ssh would not accept, or a host named twice."""
    from dataclasses import replace

    from opsconsole.core.ssh import parse_destination

    by_name = {h.name: h for h in entries}
    chosen: list[HostSettings] = []
    for name in names:
        entry = by_name.get(name.strip())
        if entry is not None:
            chosen.append(replace(entry, supervisor_urls=list(entry.supervisor_urls)))
            continue
        dest = parse_destination(name)
        chosen.append(HostSettings(name=dest.text, ssh=dest.text))
    seen = [h.name for h in chosen]
    twice = sorted({n for n in seen if seen.count(n) > 1})
    if twice:
        raise ConfigError(f"--host names {', '.join(twice)} more than once", "name each once")
    return chosen


def _pass_to_hosts(
    cfg: AppConfig,
    supervisor_conf: str | None,
    supervisor_urls: list[str] | None,
    user: str | None,
    password: str | None,
    agent: str | None,
    env: Mapping[str, str],
) -> None:
    """Flags given with hosts go to every host (over its agent's own settings)."""
    env_password = env.get(PASSWORD_ENV)
    for host in cfg.hosts:
        if agent:
            host.agent = agent
        if supervisor_conf:
            host.supervisor_config, host.supervisor_urls = supervisor_conf, []
        if supervisor_urls:
            host.supervisor_config, host.supervisor_urls = None, list(supervisor_urls)
        if user is not None:
            host.user = user
        if password is not None:
            host.password = password
        elif env_password and host.password is None:
            host.password = env_password


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
    hosts: list[str] | None = None,
    agent: str | None = None,
    ssh_config: str | None = None,
) -> AppConfig:
    """Merge flags over the TOML file over supervisorctl-style discovery.

    ``hosts`` (``--host``) picks the fleet: a ``[[host]]`` name, or any ssh destination.
    With hosts, ``supervisor_conf``, ``supervisor_urls`` and ``user`` are passed to every
    host's agent (paths and URLs of that host: a remote ``-c`` is not read here)."""
    env = os.environ if environ is None else environ
    if config_file:
        cfg = load_toml(Path(config_file).expanduser())
    else:
        default = default_config_path()
        cfg = load_toml(default) if default.is_file() else AppConfig()
    if ssh_config:
        cfg.ssh_config = str(Path(ssh_config).expanduser())
    if hosts:
        cfg.hosts = select_hosts(cfg.hosts, hosts)
    _pass_to_hosts(cfg, supervisor_conf, supervisor_urls, user, password, agent, env)
    if cfg.hosts and all(h.ssh != "local" for h in cfg.hosts):
        supervisor_conf = None  # a remote host's path: only its agent reads it
    if supervisor_conf:
        cfg.supervisors = [load_supervisor_config(Path(supervisor_conf).expanduser(), env)]
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
            cfg.supervisors = [load_supervisor_config(found, env)]
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
