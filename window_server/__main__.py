"""Command line: ``python -m window_server [settings…]`` runs the service.

With no ``REDIS_URL`` a private redis-server is spawned under ``data_dir`` and stopped on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import gc
import logging
import os
import signal
import sys
from collections.abc import Sequence

from aiohttp import web

from window_server.accounts.store import demo_booth_token
from window_server.app import create_app
from window_server.appkeys import DEMO_LOGINS
from window_server.cli import demo_banner
from window_server.cli import main as accounts_main
from window_server.evidence.keys import load_seal_key
from window_server.runtime.redis_server import EmbeddedRedis, RedisServerError, die_with_parent
from window_server.settings import (
    Settings,
    SettingsError,
    build_settings,
    parse_cli,
    settings_markdown,
)

log = logging.getLogger("window_server")


def configure_logging(level: str) -> None:
    """Log lines for operators: time, level, logger, message (ids as context, never secrets)."""
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def fail(message: str, status: int = 1) -> int:
    print(f"window_server: error: {message}", file=sys.stderr)
    return status


async def serve(settings: Settings, announce: bool = True, simulate: bool = False) -> None:
    """Run the app until SIGINT or SIGTERM (``simulate``: with simulated traffic, docs/simulate.md)."""
    app = create_app(settings)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, backlog=1024)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(settings.host, settings.port) from None
        raise
    port = runner.addresses[0][1] if runner.addresses else settings.port
    tune_gc()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    agent = None
    if settings.demo and settings.demo_device_agent:
        agent = await start_demo_device_agent(port)
    if announce:
        print_banner(settings, port, demo_banner(app[DEMO_LOGINS]) if DEMO_LOGINS in app else [])
    log.info("serving on http://%s:%d", settings.host, port)
    sim = start_simulation(settings, port, stop) if simulate else None
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        if sim is not None:  # stop arrivals, clear what the simulation holds open
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                async with asyncio.timeout(15):
                    await sim
            sim.cancel()
        if agent is not None:
            await stop_process(agent)
        await runner.cleanup()


DEMO_BOOTH = "sh-huangpu-01"


def start_simulation(settings: Settings, port: int, stop: asyncio.Event) -> asyncio.Task[None]:
    """``--simulate``: gentle simulated traffic against this server (window_server/simulate/)."""
    from window_server.simulate.cli import simulate_demo

    return asyncio.create_task(simulate_demo(
        f"http://127.0.0.1:{port}", settings.redis_url, stop, secret=settings.secret,
        centres_file=settings.centres_file, matters_file=settings.matters_file), name="simulated traffic")


async def start_demo_device_agent(port: int) -> asyncio.subprocess.Process | None:
    """The demo booth's device agent with the synthetic 高拍仪, so the whole flow works here."""
    env = {**os.environ, "RW_BOOTH_TOKEN": demo_booth_token(DEMO_BOOTH)}
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "citizen_client", "--server", f"http://127.0.0.1:{port}",
            "--booth", DEMO_BOOTH, "--camera", "synthetic", "--log-level", "WARNING",
            env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - only sets PDEATHSIG
            start_new_session=True,  # Ctrl-C reaches the service only; it stops the agent
        )
    except OSError as exc:
        log.warning("demo device agent not started: %s", exc)
        return None
    log.info("demo device agent of booth %s started (pid %d)", DEMO_BOOTH, proc.pid)
    return proc


async def stop_process(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.terminate()
        try:
            async with asyncio.timeout(10):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()


def tune_gc() -> None:
    """Fewer, cheaper full collections: with 2,000 sockets a default gen-2 pass took ~350 ms
    every few seconds and stalled every acknowledgement (bench/signaling_bench.py)."""
    gc.collect()
    gc.freeze()  # what start-up built lives for the whole process: never scan it again
    gc.set_threshold(50_000, 20, 100)


class PortInUse(Exception):
    def __init__(self, host: str, port: int) -> None:
        super().__init__(
            f"port {port} on {host} is already in use: stop the program using it, "
            f"or choose another port with --port N (or RW_PORT=N)"
        )


def print_banner(settings: Settings, port: int, demo_lines: Sequence[str] = ()) -> None:
    """Tell the person who ran the command where to go (and, in demo mode, how to log in)."""
    base = f"http://{'127.0.0.1' if settings.host in ('0.0.0.0', '') else settings.host}:{port}"
    print(f"\nRemote Window is running at {base}", flush=True)
    print(f"  specialist console: {base}/console      dashboards: {base}/dashboard", flush=True)
    print(f"  health:    {base}/healthz   readiness: {base}/readyz", flush=True)
    if settings.demo:
        print(f"  demo booth kiosk:   {base}/booth/{DEMO_BOOTH}?token={demo_booth_token(DEMO_BOOTH)}", flush=True)
        hall = DEMO_BOOTH.rsplit("-", 1)[0]  # the demo booth's centre: its hall's display and staff view
        print(f"  hall display:       {base}/hall/{hall}/display      hall staff: {base}/hall/{hall}/staff",
              flush=True)
    for line in demo_lines:  # demo accounts
        print(line, flush=True)
    print("Stop with Ctrl-C.\n", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["users"], ["booths"]):  # account administration
        return accounts_main(argv)
    if argv[:1] == ["purge-materials"]:  # retention of materials
        from window_server.materials.purge import main as purge_main

        return purge_main(argv[1:])
    if argv[:1] == ["purge-recordings"]:  # retention of recordings
        from window_server.recording.purge import main as purge_recordings_main

        return purge_recordings_main(argv[1:])
    if argv[:1] == ["evidence"]:  # sealed evidence: export, verify, the seal log, seal now
        from redis.asyncio import Redis

        from window_server.domain.errors import NotFound
        from window_server.domain.materials import SessionParties
        from window_server.evidence.cli import main as evidence_main
        from window_server.evidence.sealer import Finalize, MaterialsReader
        from window_server.materials.store import MaterialStore
        from window_server.queue.store import QueueStore
        from window_server.recording.service import RecordingService
        from window_server.recording.store import RecordingStore
        from window_server.store.blobs import FileBlobStore

        async def no_parties(sid: str) -> SessionParties:  # finalize never asks who the parties are
            raise NotFound(f"no parties of session {sid} here")

        def sources(redis: Redis, s: Settings, sessions: QueueStore) -> tuple[MaterialsReader, Finalize]:
            """What sealing needs of features that import evidence (it may not import them)."""
            recording = RecordingService(store=RecordingStore(redis), sessions=sessions,
                                         blobs=FileBlobStore(s.data_dir / "recordings"), parties=no_parties)
            return MaterialStore(sessions), recording.finalize

        return evidence_main(argv[1:], sources)
    if argv[:1] == ["cluster"]:  # issue 20: the production topology on this machine (and deploy/'s files)
        from window_server.cluster.cli import main as cluster_main

        return cluster_main(argv[1:])
    if argv[:1] == ["simulate"]:  # issue 20: simulated booths and specialists (docs/simulate.md)
        from window_server.simulate.cli import main as simulate_main

        return simulate_main(argv[1:])
    if argv[:1] == ["settings"]:  # the settings table for docs/operations.md
        print(settings_markdown())
        return 0
    if argv and argv[0] == "run":
        argv = argv[1:]
    simulate = "--simulate" in argv  # issue 20: the demo with simulated traffic (./rw run --simulate)
    argv = [a for a in argv if a != "--simulate"]
    _ns, cli = parse_cli(argv)
    try:
        settings = build_settings(os.environ, cli)
        load_seal_key(settings)  # outside demo mode without RW_EVIDENCE_KEY: refuse to start
    except SettingsError as exc:
        return fail(str(exc), 2)
    if simulate and not settings.demo:
        return fail("--simulate drives the demo chain's accounts: it needs demo mode (RW_DEMO=true)", 2)
    configure_logging(settings.log_level)

    embedded: EmbeddedRedis | None = None
    if not settings.redis_url:
        embedded = EmbeddedRedis(settings.redis_dir)
        try:
            url = embedded.start()
        except RedisServerError as exc:
            return fail(str(exc))
        log.info("REDIS_URL is not set: using the embedded redis-server (stopped on exit)")
        settings = dataclasses.replace(settings, redis_url=url)
    try:
        asyncio.run(serve(settings, simulate=simulate))
    except PortInUse as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        pass
    finally:
        if embedded is not None:
            embedded.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
