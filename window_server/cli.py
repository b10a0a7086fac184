"""Account administration: ``python -m window_server users …`` and ``… booths …``.

Which Redis: ``REDIS_URL`` (or ``--redis-url``) if set. Otherwise the embedded Redis under
``RW_DATA_DIR``: if the service is running with it, the command talks to that very server
(found through /proc: a redis-server whose working directory is ``<data_dir>/redis``);
if not, it starts the embedded redis-server for the length of the command and stops it.

Passwords are never command-line arguments (they would show in ``ps`` and shell history):
they are prompted for on the terminal, or read as one line from stdin with
``--password-stdin``. Exit status: 0 done, 1 could not be done (no such user, already exists,
Redis unreachable), 2 bad usage or invalid input; each failure prints one line.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import getpass
import logging
import os
import re
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, NoReturn

from redis.exceptions import RedisError

from window_server.accounts.store import AccountStore, DemoLogins
from window_server.domain.auth import STAFF_ROLES, Role
from window_server.domain.errors import InvalidInput, RemoteWindowError
from window_server.runtime.catalogue import load_catalogue
from window_server.runtime.redis_server import EmbeddedRedis, RedisServerError, embedded_url
from window_server.settings import Settings, SettingsError, build_settings
from window_server.store.client import make_redis

PROG = "python -m window_server"
_SETTINGS_USED = ("redis_url", "data_dir", "centres_file", "matters_file")
_TITLE = re.compile(r"redis-server\s+(?:127\.0\.0\.1|localhost|\[::1\]):(\d+)")


class UsageError(Exception):
    """Bad usage or invalid input: exit status 2."""


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)  # "--password" must not mean "--password-stdin"
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:  # one line, not argparse's usage block
        if message.startswith("unrecognized arguments"):
            message = "unrecognized arguments (not repeated here, in case one is a password)"
        raise UsageError(f"{message} (see {self.prog} --help)")


def _out(line: str = "") -> None:
    sys.stdout.write(line + "\n")


def _err(line: str) -> None:
    sys.stderr.write(line + "\n")


def _settings_flags() -> _Parser:
    parent = _Parser(add_help=False)
    group = parent.add_argument_group("settings (flag, or environment variable)")
    for f in dataclasses.fields(Settings):
        if f.name in _SETTINGS_USED:
            group.add_argument(
                "--" + f.name.replace("_", "-"), dest=f.name, default=None,
                metavar=f.metadata["env"], help=f.metadata["help"],
            )
    return parent


def build_parser() -> argparse.ArgumentParser:
    """The ``users`` and ``booths`` command lines."""
    common = _settings_flags()
    parser = _Parser(prog=PROG, description="Manage staff accounts and booth tokens.")
    kinds = parser.add_subparsers(dest="kind", required=True, parser_class=_Parser)

    users = kinds.add_parser("users", help="staff accounts (specialists, team leads, managers)")
    ucmd = users.add_subparsers(dest="cmd", required=True, parser_class=_Parser)
    add = ucmd.add_parser("add", parents=[common], help="add a staff account")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=sorted(r.value for r in STAFF_ROLES))
    add.add_argument("--centre", default="", help="centre id (not for chain_manager)")
    add.add_argument("--langs", default="", help="comma-separated languages, e.g. zh,en "
                     "(default: the centre's languages)")
    add.add_argument("--name", default="", help="display name shown on screens")
    add.add_argument("--region", default="", help="reviewer only: the region code whose matters they review")
    add.add_argument("--department", default="", help="reviewer only: their approving department")
    add.add_argument("--staff-no", default="", help="service number (工号) shown to the citizen while this "
                     "specialist serves them, e.g. SH0101-07")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password as one line from stdin instead of prompting")
    pw = ucmd.add_parser("passwd", parents=[common], help="set a new password")
    pw.add_argument("username")
    pw.add_argument("--password-stdin", action="store_true")
    for cmd, text in (("disable", "stop an account (its logins end at once, its open consoles within seconds)"),
                      ("enable", "allow a disabled account again"),
                      ("unlock", "lift a login lock after too many failed logins")):
        p = ucmd.add_parser(cmd, parents=[common], help=text)
        p.add_argument("username")
    ucmd.add_parser("list", parents=[common], help="list accounts (never passwords)")

    booths = kinds.add_parser("booths", help="booth accounts and their tokens")
    bcmd = booths.add_subparsers(dest="cmd", required=True, parser_class=_Parser)
    badd = bcmd.add_parser("add", parents=[common],
                           help="add a booth, or re-issue a revoked one; prints its token once")
    badd.add_argument("booth", help="booth id, e.g. sh-huangpu-02")
    badd.add_argument("--centre", required=True)
    badd.add_argument("--name", default="")
    rev = bcmd.add_parser("revoke", parents=[common],
                          help="revoke a booth's token at once (its open kiosk and device agent end within seconds)")
    rev.add_argument("booth")
    bcmd.add_parser("list", parents=[common], help="list booths (never tokens)")
    return parser


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    if not sys.stdin.isatty():
        raise UsageError("no terminal to ask for the password on: pipe it in with --password-stdin")
    first = getpass.getpass("password: ")
    if getpass.getpass("password again: ") != first:
        raise UsageError("the two passwords differ")
    return first


def running_embedded_redis(redis_dir: Path) -> str | None:
    """The URL of a redis-server already serving ``redis_dir`` (the service's embedded one)."""
    want = redis_dir.resolve()
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if Path(os.readlink(proc / "cwd")) != want:
                continue
            title = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        # redis-server rewrites its title to "redis-server <addr>:<port>"
        if m := _TITLE.search(title):
            return embedded_url(redis_dir, int(m.group(1)))  # with its password
    return None


async def _run(ns: argparse.Namespace, settings: Settings, url: str) -> int:
    catalogue = load_catalogue(settings.centres_file, settings.matters_file)
    redis = make_redis(url, timeout=10)
    store = AccountStore(redis, catalogue, demo=settings.demo)
    try:
        return await _dispatch(ns, store)
    finally:
        await redis.aclose()


async def _dispatch(ns: argparse.Namespace, store: AccountStore) -> int:
    if ns.kind == "users":
        if ns.cmd == "add":
            langs = tuple(x.strip() for x in ns.langs.split(",") if x.strip()) or None
            extra = {"region": ns.region, "department": ns.department}
            store.validate_user(ns.username, ns.role, ns.centre, langs, ns.name, ns.staff_no, **extra)  # before the prompt
            password = store.check_password(_read_password(ns.password_stdin))
            user = await store.add_user(ns.username, password, ns.role, ns.centre, langs, ns.name, ns.staff_no,
                                        **extra)
            _out(f"user {user.username} added: {user.role.value}"
                 + (f" at {user.centre}" if user.centre else "") + f", languages {','.join(user.langs)}"
                 + (f", service number {user.staff_no}" if user.staff_no else "")
                 + (f", region {user.region} ({user.department})" if user.region else ""))
        elif ns.cmd == "passwd":
            await store.get_user(ns.username)
            await store.set_password(ns.username, store.check_password(_read_password(ns.password_stdin)))
            _out(f"password of {ns.username} changed; its open logins have ended and its open "
                 "consoles end within seconds")
        elif ns.cmd == "unlock":
            await store.get_user(ns.username)
            await store.clear_login_failures(ns.username)
            _out(f"user {ns.username} may try to log in again")
        elif ns.cmd in ("disable", "enable"):
            await store.set_disabled(ns.username, ns.cmd == "disable")
            _out(f"user {ns.username} {ns.cmd}d"
                 + ("; its open logins have ended and its open consoles end within seconds"
                    if ns.cmd == "disable" else ""))
        else:
            rows = [(u.username, u.role.value, u.centre or "-", ",".join(u.langs),
                     "disabled" if u.disabled else ("demo" if u.demo else "active"), u.name)
                    for u in await store.list_users()]
            _table(("USERNAME", "ROLE", "CENTRE", "LANGS", "STATUS", "NAME"), rows)
        return 0
    if ns.cmd == "add":
        booth, token = await store.add_booth(ns.booth, ns.centre, ns.name)
        _err(f"booth {booth.booth} added for centre {booth.centre}. Its token follows, shown this "
             "once: put it in the booth's configuration (revoke and add again to replace it).")
        _out(token)
    elif ns.cmd == "revoke":
        await store.revoke_booth(ns.booth)
        _out(f"booth {ns.booth} revoked: its token no longer works; its open kiosk page and device "
             "agent end within seconds")
    else:
        booths = [(b.booth, b.centre, "revoked" if b.revoked else ("demo" if b.demo else "active"), b.name)
                  for b in await store.list_booths()]
        _table(("BOOTH", "CENTRE", "STATUS", "NAME"), booths)
    return 0


def _table(head: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head) - 1)]
    for row in [head, *rows]:
        _out("  ".join([c.ljust(w) for c, w in zip(row, widths, strict=False)] + [row[-1]]).rstrip())


def main(argv: Sequence[str]) -> int:
    """Run one ``users``/``booths`` command; return the exit status."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    embedded: EmbeddedRedis | None = None
    try:
        if any(a == "--password" or a.startswith("--password=") for a in argv):
            raise UsageError("a password is never a command-line argument (ps and shell history "
                             "would keep it): answer the prompt, or pipe it in with --password-stdin")
        ns = build_parser().parse_args(list(argv))
        cli = {name: getattr(ns, name, None) for name in _SETTINGS_USED}
        settings = build_settings(os.environ, cli)
        url = settings.redis_url or running_embedded_redis(settings.redis_dir)
        if not url:
            embedded = EmbeddedRedis(settings.redis_dir)
            url = embedded.start()
        return asyncio.run(_run(ns, settings, url))
    except (UsageError, SettingsError) as exc:
        _err(f"{PROG}: error: {exc}")
        return 2
    except InvalidInput as exc:
        where = f"{exc.field}: " if exc.field else ""
        _err(f"{PROG}: error: {where}{exc.message}")
        return 2
    except RemoteWindowError as exc:
        _err(f"{PROG}: error: {exc.message}")
        return 1
    except RedisServerError as exc:
        _err(f"{PROG}: error: {exc}")
        return 1
    except (RedisError, OSError) as exc:
        _err(f"{PROG}: error: cannot reach Redis ({exc}); check REDIS_URL")
        return 1
    except KeyboardInterrupt:
        _err(f"{PROG}: interrupted")
        return 1
    finally:
        if embedded is not None:
            embedded.stop()


def demo_banner(demo: DemoLogins) -> list[str]:
    """Lines for the start banner: the demo logins and booth tokens (demo mode only)."""
    by_role: dict[Role, list[str]] = {}
    for username, role, _centre in demo.users:
        by_role.setdefault(role, []).append(username)
    specs = by_role.get(Role.SPECIALIST, [])
    lines = [f"Demo logins (demo mode only), password {demo.password} for each:"]
    if specs:
        lines.append(f"  specialists:   spec-<centre id>, {len(specs)} in all, e.g. {specs[min(1, len(specs) - 1)]}")
    if halls := by_role.get(Role.HALL_STAFF, []):
        lines.append(f"  hall staff:    hall-<centre id>, {len(halls)} in all, e.g. {halls[min(1, len(halls) - 1)]}")
    for role, label in ((Role.TEAM_LEAD, "team leads:   "), (Role.MANAGER, "managers:     "),
                        (Role.CHAIN_MANAGER, "chain manager:")):
        if by_role.get(role):
            lines.append(f"  {label} {' '.join(by_role[role])}")
    if reviewers := by_role.get(Role.REVIEWER, []):  # issue 19: approving departments (三方会商), page /guest
        lines.append(f"  reviewers:     review-<region code>, {len(reviewers)} in all, e.g. "
                     f"{' '.join(reviewers[:3])}")
    if demo.booths:
        booth, _centre, token = demo.booths[min(1, len(demo.booths) - 1)]
        lines.append(f"Demo booths: <centre id>-01, {len(demo.booths)} in all; token demo-<booth id>, "
                     f"e.g. {booth} with {token}")
    return lines


def retention_main(
    argv: Sequence[str],
    *,
    name: str,
    doc: str | None,
    default_days: Callable[[Settings], float],
    setting: str,
    run: Callable[[str, Settings, float, bool], Coroutine[Any, Any, int]],
) -> int:
    """A retention command (``purge-materials``, ``purge-recordings``): flags, Redis, exit status.

    ``run(redis_url, settings, days, dry_run)`` does the purge. Exit status: its own, 1 when Redis
    cannot be reached, 2 for bad usage or settings (the seal key included).
    """
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog=f"python -m window_server {name}",
                                     description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--days", type=float, default=None, help=f"retention in days (default: {setting})")
    parser.add_argument("--dry-run", action="store_true", help="only say what would be deleted")
    parser.add_argument("--redis-url", default=None, metavar="REDIS_URL")
    parser.add_argument("--data-dir", default=None, metavar="RW_DATA_DIR")
    ns = parser.parse_args(list(argv))
    embedded: EmbeddedRedis | None = None
    try:
        settings = build_settings(os.environ, {"redis_url": ns.redis_url, "data_dir": ns.data_dir})
        days = default_days(settings) if ns.days is None else ns.days
        if not days > 0:
            raise SettingsError("--days must be greater than 0")
        url = settings.redis_url or running_embedded_redis(settings.redis_dir)
        if not url:
            embedded = EmbeddedRedis(settings.redis_dir)
            url = embedded.start()
        return asyncio.run(run(url, settings, days, ns.dry_run))
    except SettingsError as exc:  # the seal key (EvidenceKeyError) too
        sys.stderr.write(f"{name}: error: {exc}\n")
        return 2
    except (RedisError, RedisServerError, OSError) as exc:
        sys.stderr.write(f"{name}: error: cannot reach Redis ({exc}); check REDIS_URL\n")
        return 1
    finally:
        if embedded is not None:
            embedded.stop()
