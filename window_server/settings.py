"""Typed settings: one table of name, environment variable, default and help.

Only ``__main__`` (and the test harness) build a ``Settings``; every other module receives it.
No other module reads ``os.environ``.
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from window_server.domain.auth import ice_policy_problem, ice_urls_problem, secret_problem
from window_server.domain.redis_url import redis_url_problem


class SettingsError(ValueError):
    """A setting has an invalid value; the message names the setting and the fix."""


def _setting(default: Any, env: str, help: str, check: Callable[[Any], str | None] | None = None) -> Any:
    return field(default=default, metadata={"env": env, "help": help, "check": check})


def _port(v: int) -> str | None:
    return None if 0 <= v <= 65535 else "must be a port number 0-65535"


def _positive(v: float) -> str | None:
    return None if v > 0 else "must be greater than 0"


def _non_negative(v: float) -> str | None:
    return None if v >= 0 else "must be 0 or more"


def _log_level(v: str) -> str | None:
    ok = {"DEBUG", "INFO", "WARNING", "ERROR"}
    return None if v.upper() in ok else f"must be one of {', '.join(sorted(ok))}"


def _token_lifetime(v: float) -> str | None:
    return None if 0 < v <= 300 else "must be between 0 and 300 seconds"


def _turn_ttl(v: float) -> str | None:
    return None if 0 < v <= 600 else "must be between 0 and 600 seconds"


def _timezone(v: str) -> str | None:
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError):
        return "must be an IANA time zone such as Asia/Shanghai"
    return None


def _redis_url(v: str) -> str | None:
    return redis_url_problem(v)  # redis://, rediss://, unix:// or redis+sentinel://…/<service>/<db>


def _loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip()).is_loopback
    except ValueError:
        return False


# --- materials ---
def _fraction(v: float) -> str | None:
    return None if 0 <= v <= 1 else "must be between 0 and 1"


@dataclass(frozen=True)
class Settings:
    """Everything an operator can set. Each field is one row of the settings table."""

    host: str = _setting("127.0.0.1", "RW_HOST", "address the HTTP/socket.io server listens on")
    port: int = _setting(8080, "RW_PORT", "TCP port of the HTTP/socket.io server (0 picks a free one)", _port)
    redis_url: str = _setting(
        "", "REDIS_URL",
        "Redis to use, e.g. redis://10.0.0.5:6379/0, or its primary through Sentinel: "
        "redis+sentinel://[:password@]host:26379,host:26379,host:26379/<service>/<db> "
        "(e.g. /mymaster/0; a failover is followed without a restart); empty spawns a private "
        "redis-server under data_dir",
        _redis_url,
    )
    # issue20-redis: settings of Sentinel / WAIT durability go here (helper H2)
    redis_wait_replicas: int = _setting(0, "RW_REDIS_WAIT_REPLICAS", "replicas that must hold a write (Redis WAIT on the same connection) before it is acknowledged to a client; fewer in time: the client is answered unavailable and retries. 0: acknowledged once the primary has it (see docs/operations.md, Redis: Sentinel and durable acknowledgements)", _non_negative)
    redis_wait_ms: int = _setting(500, "RW_REDIS_WAIT_MS", "milliseconds a write waits for RW_REDIS_WAIT_REPLICAS replicas before the client is answered unavailable", _positive)
    # --- end issue20-redis ---
    data_dir: Path = _setting(Path("var"), "RW_DATA_DIR", "where the embedded Redis, stills and exports live")
    log_level: str = _setting("INFO", "RW_LOG_LEVEL", "DEBUG, INFO, WARNING or ERROR", _log_level)
    demo: bool = _setting(True, "RW_DEMO", "load the 22-centre demo chain and demo accounts")
    demo_device_agent: bool = _setting(True, "RW_DEMO_DEVICE_AGENT", "in demo mode, also run the device agent (synthetic 高拍仪) of the demo booth sh-huangpu-01")
    centres_file: Path | None = _setting(None, "RW_CENTRES_FILE", "TOML file of the centre chain (default: the demo chain)")
    matters_file: Path | None = _setting(None, "RW_MATTERS_FILE", "TOML file of the matter catalogue (default: the demo catalogue)")
    redis_timeout: float = _setting(2.0, "RW_REDIS_TIMEOUT", "seconds before a Redis command counts as failed", _positive)
    redis_max_connections: int = _setting(128, "RW_REDIS_MAX_CONNECTIONS", "Redis connections one node may open; more requests wait for a free one", _positive)
    max_body_bytes: int = _setting(1_048_576, "RW_MAX_BODY_BYTES", "largest JSON request body accepted", _positive)
    timezone: str = _setting("Asia/Shanghai", "RW_TIMEZONE", "time zone of session numbers, opening hours and 'today'", _timezone)
    # the queue's clocks
    widen_seconds: float = _setting(60.0, "RW_WIDEN_SECONDS", "seconds a session waits for its home region's own centres before partner centres may serve it", _non_negative)
    offer_timeout_seconds: float = _setting(20.0, "RW_OFFER_TIMEOUT_SECONDS", "seconds a specialist has to accept an offer", _positive)
    decline_memory_seconds: float = _setting(120.0, "RW_DECLINE_MEMORY_SECONDS", "seconds a declined session is not offered to the same specialist again", _non_negative)
    wrap_up_seconds: float = _setting(60.0, "RW_WRAP_UP_SECONDS", "wrap-up time after a session before a specialist is available again", _non_negative)
    reconnect_grace_seconds: float = _setting(60.0, "RW_RECONNECT_GRACE_SECONDS", "seconds a session waits in reconnecting for a lost party", _positive)
    transfer_timeout_seconds: float = _setting(120.0, "RW_TRANSFER_TIMEOUT_SECONDS", "seconds a transfer may last at most before it returns to the first specialist (a centre transfer waiting for a free specialist; each offer of it lasts RW_OFFER_TIMEOUT_SECONDS)", _positive)
    rating_window_hours: float = _setting(24.0, "RW_RATING_WINDOW_HOURS", "hours after completion a citizen may still rate a session; then it closes (rate answers rating_closed) and its stills count toward retention", _positive)
    heartbeat_ttl_seconds: float = _setting(20.0, "RW_HEARTBEAT_TTL_SECONDS", "a specialist whose heartbeats stop this long is offline", _positive)
    default_aht_seconds: float = _setting(300.0, "RW_DEFAULT_AHT_SECONDS", "average handling time assumed for wait estimates until real ones exist", _positive)
    # service-level definitions (dashboards)
    service_level_seconds: float = _setting(60.0, "RW_SERVICE_LEVEL_SECONDS", "T: a session answered within T seconds counts toward the service level", _positive)
    short_abandon_seconds: float = _setting(10.0, "RW_SHORT_ABANDON_SECONDS", "S: citizens who leave within S seconds are excluded from the service level", _non_negative)

    wait_alarm_seconds: float = _setting(300.0, "RW_WAIT_ALARM_SECONDS", "a dashboard alarm is raised when a citizen has waited longer; answered or abandoned sessions that waited longer count as over the wait threshold", _positive)
    handle_alarm_seconds: float = _setting(1800.0, "RW_HANDLE_ALARM_SECONDS", "handled sessions that took longer count as over the handling threshold", _positive)
    review_deadlines_file: Path | None = _setting(None, "RW_REVIEW_DEADLINES_FILE", "TOML file of bad-review (差评) follow-up deadlines per province (default: the built-in table, see docs/dashboard.md)")
    dashboard_push_seconds: float = _setting(0.2, "RW_DASHBOARD_PUSH_SECONDS", "least interval between two live pushes to one dashboard room", _positive)
    metrics_token: str = _setting("", "RW_METRICS_TOKEN", "bearer token /metrics asks of clients that are not on loopback; empty: /metrics answers loopback clients only")
    # accounts and authentication
    secret: str = _setting("", "RW_SECRET", "key that signs connect tokens, at least 32 random bytes (64 hex characters; with RW_DEMO=false a weaker or placeholder value refuses to start); empty: one is generated once and kept in Redis, shared by every node")
    cookie_secure: bool | None = _setting(None, "RW_COOKIE_SECURE", "mark the login cookie Secure (browsers then send it over HTTPS only); empty: true unless RW_HOST is a loopback address (nginx with TLS in front, or a local demo)")
    web_session_hours: float = _setting(12.0, "RW_WEB_SESSION_HOURS", "hours a console or dashboard login lasts", _positive)
    login_max_failures: int = _setting(5, "RW_LOGIN_MAX_FAILURES", "failed logins (per account and per address) before logins are refused for a while", _positive)
    login_lock_minutes: float = _setting(15.0, "RW_LOGIN_LOCK_MINUTES", "minutes logins stay refused after too many failures", _positive)
    connect_token_seconds: float = _setting(120.0, "RW_CONNECT_TOKEN_SECONDS", "lifetime of a socket.io connect token (at most 300)", _token_lifetime)
    revocation_sweep_seconds: float = _setting(1.0, "RW_REVOCATION_SWEEP_SECONDS", "how often each node ends its open sockets whose account or login was revoked (disable, password change, booth revoke, logout)", _positive)
    # WebRTC
    ice_servers: str = _setting("", "RW_ICE_SERVERS", "comma-separated STUN/TURN URLs given to browsers and device agents; empty: host candidates only (never a public default)", ice_urls_problem)
    turn_secret: str = _setting("", "RW_TURN_SECRET", "shared secret of the TURN server (coturn use-auth-secret); empty: no TURN credentials")
    # issue20-ice: RW_ICE_TRANSPORT_POLICY goes here (helper H4)
    ice_transport_policy: str = _setting("all", "RW_ICE_TRANSPORT_POLICY", "all or relay: with relay, browsers and device agents use only TURN-relayed candidates (every call goes through RW_ICE_SERVERS' TURN; needs RW_TURN_SECRET)", ice_policy_problem)
    turn_ttl_seconds: float = _setting(600.0, "RW_TURN_TTL_SECONDS", "lifetime of ephemeral TURN credentials (at most 600)", _turn_ttl)
    # socket.io budgets
    allowed_origins: str = _setting("", "RW_ALLOWED_ORIGINS", "comma-separated browser origins allowed to open socket.io connections; empty: this server's own address")
    max_message_bytes: int = _setting(65_536, "RW_MAX_MESSAGE_BYTES", "largest socket.io message accepted", _positive)
    max_outbound_packets: int = _setting(1000, "RW_MAX_OUTBOUND_PACKETS", "packets queued for one socket that it has not read; past this the client is a slow consumer and is dropped", _positive)
    rate_limit_per_second: float = _setting(20.0, "RW_RATE_LIMIT_PER_SECOND", "socket.io messages per second per connection", _positive)
    rate_limit_burst: int = _setting(40, "RW_RATE_LIMIT_BURST", "socket.io messages a connection may send in a burst", _positive)
    frame_rate_per_second: float = _setting(50.0, "RW_FRAME_RATE_PER_SECOND", "inbound frames of any kind (events, pings, garbage) per second per connection; frames over the budget are dropped and count as strikes", _positive)
    frame_burst: int = _setting(100, "RW_FRAME_BURST", "inbound frames a connection may send in a burst", _positive)
    byte_rate_per_second: float = _setting(262_144.0, "RW_BYTE_RATE_PER_SECOND", "inbound bytes per second per connection (256 KiB)", _positive)
    byte_burst: int = _setting(1_048_576, "RW_BYTE_BURST", "inbound bytes a connection may send in a burst (1 MiB; never less than RW_MAX_MESSAGE_BYTES)", _positive)
    budget_strikes: int = _setting(20, "RW_BUDGET_STRIKES", "frames over the budget or undecodable a connection may send before it is closed", _positive)
    auth_deadline_seconds: float = _setting(10.0, "RW_AUTH_DEADLINE_SECONDS", "a socket that has not authenticated this long after connecting is dropped", _positive)
    ping_interval_seconds: float = _setting(8.0, "RW_PING_INTERVAL_SECONDS", "engine.io ping interval; interval + timeout is how fast a dead peer is noticed", _positive)
    ping_timeout_seconds: float = _setting(10.0, "RW_PING_TIMEOUT_SECONDS", "engine.io ping timeout", _positive)
    bus_probe_seconds: float = _setting(5.0, "RW_BUS_PROBE_SECONDS", "how often a node checks it still hears the cross-node bus (and resubscribes if not)", _positive)
    # --- materials: uploads, the document workers, quality thresholds, retention ---
    max_upload_bytes: int = _setting(15_728_640, "RW_MAX_UPLOAD_BYTES", "largest still an upload may send (bytes, 15 MiB); a larger one is refused with 413 too_large and nothing is kept", _positive)
    max_megapixels: float = _setting(40.0, "RW_MAX_MEGAPIXELS", "stills whose header declares more pixels (millions) are refused before decoding (413 image_too_large); so are stills that would decode to more than 3 bytes a pixel at this size, and any with more than 8 bits a sample (415 unsupported_bit_depth)", _positive)
    uploads_per_session: int = _setting(2, "RW_UPLOADS_PER_SESSION", "stills of one session being uploaded and checked at once on a node; one more is refused with 429 too_many_uploads", _positive)
    uploads_per_booth: int = _setting(2, "RW_UPLOADS_PER_BOOTH", "stills of one booth's sessions being uploaded and checked at once on a node; one more is refused with 429 too_many_uploads", _positive)
    min_sharpness: float = _setting(0.3, "RW_MIN_SHARPNESS", "below: the still is judged blur (edge steepness in the blurriest direction; crisp print 0.4-0.75)", _non_negative)
    max_glare: float = _setting(0.01, "RW_MAX_GLARE", "above: glare (largest blown-out blob as a share of the page)", _fraction)
    min_brightness: float = _setting(0.35, "RW_MIN_BRIGHTNESS", "below: too_dark (the page's white level, 0-1)", _fraction)
    min_coverage: float = _setting(0.05, "RW_MIN_COVERAGE", "below: too_small (page area inside the frame / frame area)", _fraction)
    border_margin: float = _setting(0.002, "RW_BORDER_MARGIN", "page corners nearer the frame border than this share of its long side: cut_off", _fraction)
    document_workers: int = _setting(2, "RW_DOCUMENT_WORKERS", "worker processes that decode and check stills (one core each); they start with the first still", _positive)
    # the hall (issue 18, helper A): seated tickets called back (window_server/hall/, docs/hall.md)
    call_back_seconds: float = _setting(180.0, "RW_CALL_BACK_SECONDS", "seconds a seated citizen's called ticket (叫号) waits to be claimed at a free booth of the hall; then it becomes no_show", _positive)
    call_ahead: int = _setting(1, "RW_CALL_AHEAD", "a seated ticket is called back when fewer than this many tickets wait ahead of it in its queue (1: when nobody is ahead)", _positive)
    document_timeout_seconds: float = _setting(20.0, "RW_DOCUMENT_TIMEOUT_SECONDS", "seconds a still may wait for and spend in the document workers before the request fails with 503 unavailable", _positive)
    material_retention_days: float = _setting(180.0, "RW_MATERIAL_RETENTION_DAYS", "days stills and their records are kept after their session ended; python -m window_server purge-materials deletes older ones (the events stay)", _positive)
    recording_retention_days: float = _setting(180.0, "RW_RECORDING_RETENTION_DAYS", "days a session's recording is kept after the session ended, unless the session is under a hold (an open bad-review follow-up or a legal hold); the purge then deletes it and logs the purge in the seal log (docs/recording.md)", _positive)
    purge_interval_hours: float = _setting(24.0, "RW_PURGE_INTERVAL_HOURS", "hours between the purges of recordings past RW_RECORDING_RETENTION_DAYS that every node runs (the first a minute after start; sessions under a hold are kept; python -m window_server purge-recordings runs one now)", _positive)
    recording_chunk_max_bytes: int = _setting(8_388_608, "RW_RECORDING_CHUNK_MAX_BYTES", "largest recording chunk an upload may send (bytes, 8 MiB: a few seconds of video at several Mbit/s); a larger one is refused with 413 too_large", _positive)
    seal_grace_seconds: float = _setting(30.0, "RW_SEAL_GRACE_SECONDS", "seconds after a session's end (rated, abandoned, interrupted, rating window closed) before its evidence is sealed, so the last recording chunks in flight still land", _non_negative)
    seal_interval_seconds: float = _setting(2.0, "RW_SEAL_INTERVAL_SECONDS", "how often each node looks for ended sessions whose evidence is due to be sealed", _positive)
    # --- guests (issue 19, helper G)
    invite_seconds: float = _setting(120.0, "RW_INVITE_SECONDS", "seconds a reviewer has to answer an invitation into a live session (三方会商) before it expires; everyone is told", _positive)
    max_guests: int = _setting(2, "RW_MAX_GUESTS", "guests (supervisors and reviewers) one live session may have at once; with the booth and the specialist a mesh of this plus two peers", _positive)
    # --- end guests
    # --- dashboards (issue 19, helper D)
    target_service_level: float = _setting(0.8, "RW_TARGET_SERVICE_LEVEL", "dashboard target of the service level (0..1): its tile is green at or above it, amber within RW_TARGET_MARGIN below it, red further below", _fraction)
    target_asa_seconds: float = _setting(30.0, "RW_TARGET_ASA_SECONDS", "dashboard target of the average speed of answer (seconds): green at or below it, amber up to RW_TARGET_MARGIN above it, red beyond", _positive)
    target_abandonment_rate: float = _setting(0.05, "RW_TARGET_ABANDONMENT_RATE", "dashboard target of the abandonment rate (0..1): green at or below it, amber up to RW_TARGET_MARGIN above it, red beyond", _fraction)
    target_aht_seconds: float = _setting(900.0, "RW_TARGET_AHT_SECONDS", "dashboard target of the average handling time (seconds): green at or below it, amber up to RW_TARGET_MARGIN above it, red beyond", _positive)
    target_satisfaction: float = _setting(0.95, "RW_TARGET_SATISFACTION", "dashboard target of the satisfaction rate (levels 3-5 over all ratings, 0..1): green at or above it, amber within RW_TARGET_MARGIN below it, red further below", _fraction)
    target_rating_coverage: float = _setting(0.6, "RW_TARGET_RATING_COVERAGE", "dashboard target of the rating coverage (ratings over completed sessions, 0..1): green at or above it, amber within RW_TARGET_MARGIN below it, red further below", _fraction)
    target_margin: float = _setting(0.1, "RW_TARGET_MARGIN", "how far from its target (a share of the target, 0..1) a dashboard tile is amber rather than red", _fraction)
    # --- end dashboards
    evidence_key: str = _setting("", "RW_EVIDENCE_KEY", "file holding the Ed25519 private key (PEM, PKCS#8) that signs evidence seals; empty in demo mode: one is generated under data_dir and kept; required when RW_DEMO=false")

    @property
    def redis_dir(self) -> Path:
        return self.data_dir / "redis"


def setting_rows() -> list[tuple[str, str, str, str]]:
    """Return (name, env, default, help) for every setting: the documentation table."""
    rows = []
    for f in dataclasses.fields(Settings):
        default = "" if f.default is None else str(f.default)
        rows.append((f.name, f.metadata["env"], default, f.metadata["help"]))
    return rows


def settings_markdown() -> str:
    """The settings table as Markdown: docs/operations.md carries exactly this."""
    lines = ["| name | environment | default | meaning |", "|---|---|---|---|"]
    for name, env, default, help_text in setting_rows():
        lines.append(f"| `{name}` | `{env}` | `{default}` | {help_text} |")
    return "\n".join(lines)


def _convert(f: dataclasses.Field[Any], raw: str) -> Any:
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    if kind in ("bool", "bool | None"):
        low = raw.strip().lower()
        if not low and kind == "bool | None":
            return None
        if low in {"1", "true", "yes", "on"}:
            return True
        if low in {"0", "false", "no", "off"}:
            return False
        raise ValueError("must be true or false")
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    if kind.startswith("Path"):
        return Path(raw) if raw else None if "None" in kind else Path(".")
    return raw


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one ``--flag`` per setting, its help naming the environment variable and default."""
    group = parser.add_argument_group("settings (flag, or environment variable)")
    for f in dataclasses.fields(Settings):
        default = "" if f.default is None else f.default
        group.add_argument(
            "--" + f.name.replace("_", "-"),
            dest=f.name,
            default=None,
            metavar=f.metadata["env"],
            help=f"{f.metadata['help']} (default: {default!s})",
        )


def build_settings(
    environ: Mapping[str, str], cli: Mapping[str, str | None] | None = None, **overrides: Any
) -> Settings:
    """Build and validate settings: CLI beats environment beats default; raise SettingsError."""
    values: dict[str, Any] = {}
    cli = cli or {}
    for f in dataclasses.fields(Settings):
        env = f.metadata["env"]
        raw = cli.get(f.name)
        source = "--" + f.name.replace("_", "-")
        if raw is None and env in environ:
            raw, source = environ[env], env
        if raw is not None:
            try:
                values[f.name] = _convert(f, str(raw))
            except ValueError as exc:
                hint = str(exc) if "must" in str(exc) else f"must be a {f.type}"
                raise SettingsError(f"setting {source}: {hint}, got {raw!r}") from None
    values.update(overrides)
    settings = Settings(**values)
    if settings.cookie_secure is None:  # Secure unless only this machine can reach the server
        settings = dataclasses.replace(settings, cookie_secure=not _loopback(settings.host))
    for f in dataclasses.fields(Settings):
        check = f.metadata["check"]
        if check is not None:
            problem = check(getattr(settings, f.name))
            if problem:
                raise SettingsError(
                    f"setting {f.metadata['env']} ({f.name}): {problem}, got {getattr(settings, f.name)!r}"
                )
    # Checked across settings: demo mode only warns at start (window_server/app.py).
    if not settings.demo and settings.secret and (problem := secret_problem(settings.secret)):
        # never echo the secret itself
        raise SettingsError(f"setting RW_SECRET (secret) is refused with RW_DEMO=false: {problem}")
    return settings


def parse_cli(argv: Sequence[str]) -> tuple[argparse.Namespace, dict[str, str | None]]:
    """Parse ``argv`` for the run command; return the namespace and the settings given as flags."""
    parser = argparse.ArgumentParser(prog="python -m window_server")
    add_arguments(parser)
    ns = parser.parse_args(argv)
    return ns, {f.name: getattr(ns, f.name) for f in dataclasses.fields(Settings)}
