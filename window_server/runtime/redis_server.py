"""A private redis-server for one process: the embedded default and the test harness.

It is a real redis-server from PATH bound to 127.0.0.1 on a free port, with AOF ``everysec``.
It dies with its parent (PR_SET_PDEATHSIG), so a killed window_server leaves no Redis behind.

Its AOF holds every secret the service keeps (the signing key, password hashes), so its
directory is 0700 and every file in it 0600 (the server runs with umask 077), and it asks for a
password: generated once, kept in ``<dir>/password`` (0600) and reused across restarts, given to
redis-server in a 0600 config file (never on the command line, where ``ps`` shows it) and put
into the URL the service and the CLI use.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)


class RedisServerError(RuntimeError):
    """The private redis-server could not be started; the message says how to fix it."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def die_with_parent() -> None:
    """In a child between fork and exec: be sent SIGTERM when the parent dies."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _private_child() -> None:
    """In the redis-server child: die with the parent; create every file owner-only (0600)."""
    die_with_parent()
    os.umask(0o077)


PASSWORD_FILE = "password"


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)  # an older file keeps its mode through O_CREAT


def embedded_password(data_dir: Path) -> str:
    """The embedded Redis's password: read from ``<data_dir>/password``, or made once (0600)."""
    path = Path(data_dir) / PASSWORD_FILE
    with contextlib.suppress(FileNotFoundError):
        if password := path.read_text().strip():
            return password
    password = secrets.token_hex(32)
    _write_private(path, password + "\n")
    return password


def embedded_url(data_dir: Path, port: int) -> str:
    """The URL, password included, of the embedded Redis keeping its data in ``data_dir``."""
    return f"redis://:{embedded_password(data_dir)}@127.0.0.1:{port}/0"


def make_private(directory: Path) -> None:
    """Make ``directory`` 0700 and everything under it 0700 (directories) or 0600 (files)."""
    os.chmod(directory, 0o700)
    for root, dirs, files in os.walk(directory):
        for d in dirs:
            os.chmod(Path(root) / d, 0o700)
        for name in files:
            p = Path(root) / name
            if not p.is_symlink():
                os.chmod(p, 0o600)


class EmbeddedRedis:
    """Start, ping and stop one redis-server child process."""

    def __init__(self, data_dir: Path, *, appendfsync: str = "everysec", binary: str = "redis-server") -> None:
        self.data_dir = Path(data_dir)
        self.appendfsync = appendfsync
        self.binary = binary
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._lock: IO[str] | None = None  # held while this object owns the data directory

    @property
    def url(self) -> str:
        """The URL with the password (redis://:<password>@127.0.0.1:<port>/0): do not log it."""
        return embedded_url(self.data_dir, self.port)

    def start(self, timeout: float = 10.0, *, port: int | None = None) -> str:
        """Spawn the server and wait until it answers PING; return its URL.

        ``port``: this port rather than a free one (a restart where clients expect it).
        """
        exe = shutil.which(self.binary)
        if exe is None:
            raise RedisServerError(
                "redis-server was not found on PATH: install it (apt-get install -y redis-server, "
                "or run ./rw run which does) or set REDIS_URL to an existing Redis"
            )
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._claim_dir()
        make_private(self.data_dir)  # files an older version left 0644 included
        password = embedded_password(self.data_dir)
        config = self.data_dir / "redis.conf"
        _write_private(config, f"# written by window_server at each start\nrequirepass {password}\n")
        last_error = ""
        for _attempt in range(5):  # a free port can be taken between probe and bind
            self.port = port or free_port()
            args = [
                exe, str(config.resolve()), "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.data_dir.resolve()),
                "--daemonize", "no", "--appendonly", "yes", "--appendfsync", self.appendfsync,
                "--save", "", "--protected-mode", "yes", "--logfile", "redis.log",
                # Compacting the AOF forks Redis, and every command waits for the fork (13 ms at
                # 270 MB here): compact after 512 MB of growth, not Redis's default 64 MB.
                "--auto-aof-rewrite-min-size", "512mb",
            ]
            self.proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                preexec_fn=_private_child,  # noqa: PLW1509 - only sets PDEATHSIG and the umask
                start_new_session=True,  # Ctrl-C reaches the service only; it stops Redis last
            )
            if self._wait_ready(timeout, password):
                log.info("embedded redis-server started on 127.0.0.1:%d, data in %s (AOF %s)",
                         self.port, self.data_dir, self.appendfsync)
                return self.url
            last_error = self._read_failure()
            self._end_proc()
        self._release_dir()
        raise RedisServerError(f"redis-server did not start in {self.data_dir}: {last_error}")

    def _claim_dir(self) -> None:
        """Two Redis servers appending to one AOF would corrupt it: one owner per directory."""
        if self._lock is not None:
            return
        f = (self.data_dir / "lock").open("a")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            raise RedisServerError(
                f"{self.data_dir} is in use by another running Remote Window (its embedded Redis keeps "
                "its data there): stop that one first, or give this one its own RW_DATA_DIR"
            ) from None
        self._lock = f

    def _release_dir(self) -> None:
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.close()  # closing the file drops the lock

    def _wait_ready(self, timeout: float, password: str) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(f"AUTH {password}\r\nPING\r\n".encode())
                    reply = b""
                    while b"\r\n" not in reply[5:] and (chunk := s.recv(64)):
                        reply += chunk
                    if reply.startswith(b"+OK\r\n+PONG"):
                        return True
            except OSError:
                pass
            time.sleep(0.02)  # polling a child process start-up, not a test wait
        return False

    def _read_failure(self) -> str:
        logfile = self.data_dir / "redis.log"
        if logfile.exists():
            lines = [ln for ln in logfile.read_text(errors="replace").splitlines() if ln.strip()]
            if lines:
                return lines[-1]
        return "no log written"

    def stop(self) -> None:
        """Stop the server (SIGTERM: Redis flushes its AOF), reap it, and free the directory."""
        self._end_proc()
        self._release_dir()

    def _end_proc(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        if proc.stderr:
            proc.stderr.close()
        log.info("embedded redis-server on port %d stopped", self.port)

    def kill(self) -> None:
        """Kill the server with SIGKILL (tests of what survives a crash)."""
        proc, self.proc = self.proc, None
        if proc is not None:
            proc.kill()
            proc.wait(timeout=5)
            if proc.stderr:
                proc.stderr.close()

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
