"""Command line: ``python -m citizen_client --server URL --booth ID --token T --camera synthetic``.

Runs the booth's device agent until SIGINT/SIGTERM: the camera, the /device connection with
reconnects, the preview and the stills, and the control API on 127.0.0.1. The booth token may
come from ``RW_BOOTH_TOKEN`` instead of ``--token`` (a command line is visible to ``ps``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from urllib.parse import urlsplit

from citizen_client import __version__
from citizen_client.agent import AgentConfig, DeviceAgent
from citizen_client.camera import CameraError, camera_spec_problem, open_camera
from citizen_client.control import start_control

log = logging.getLogger("citizen_client")

DEFAULT_CONTROL_PORT = 8765


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m citizen_client", description="The booth's device agent (高拍仪).")
    p.add_argument("--server", required=True, help="window_server address, e.g. https://rw.example.gov.cn")
    p.add_argument("--booth", required=True, help="this booth's id, e.g. sh-huangpu-01")
    p.add_argument("--token", default=None, help="the booth token (or set RW_BOOTH_TOKEN)")
    p.add_argument("--camera", default="synthetic", help="synthetic, or uvc:<index> for /dev/video<index>")
    p.add_argument("--control-port", type=int, default=DEFAULT_CONTROL_PORT,
                   help=f"port of the control API on 127.0.0.1 (default {DEFAULT_CONTROL_PORT}; 0 picks one)")
    p.add_argument("--allow-origin", action="append", default=[],
                   help="another kiosk page origin allowed to read the control API (the server's is always)")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.add_argument("--version", action="version", version=__version__)
    return p.parse_args(argv)


async def serve(config: AgentConfig, camera_spec: str, origins: frozenset[str]) -> int:
    camera = open_camera(camera_spec)
    try:
        await camera.open()
    except CameraError as exc:
        print(f"citizen_client: error: {exc}", file=sys.stderr)
        return 1
    agent = DeviceAgent(config, camera)
    try:
        runner, port = await start_control(agent, config.control_port, origins=origins)
    except OSError as exc:
        await camera.close()
        print(f"citizen_client: error: cannot listen on 127.0.0.1:{config.control_port}: {exc.strerror}; "
              "choose another with --control-port", file=sys.stderr)
        return 1
    print(f"device agent for booth {config.booth}: control API http://127.0.0.1:{port}/status", flush=True)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: loop.create_task(agent.stop()))
    try:
        await agent.run()
    finally:
        await runner.cleanup()
        await camera.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    token = args.token or os.environ.get("RW_BOOTH_TOKEN", "")
    if not token:
        print("citizen_client: error: give the booth token with --token or RW_BOOTH_TOKEN", file=sys.stderr)
        return 2
    parts = urlsplit(args.server)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        print(f"citizen_client: error: --server must be an http(s) URL, got {args.server!r}", file=sys.stderr)
        return 2
    if problem := camera_spec_problem(args.camera):
        print(f"citizen_client: error: {problem}", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                        stream=sys.stderr)
    server = f"{parts.scheme}://{parts.netloc}"
    config = AgentConfig(server=server, booth=args.booth, token=token, control_port=args.control_port)
    origins = frozenset({server, *(o.rstrip("/") for o in args.allow_origin)})
    try:
        return asyncio.run(serve(config, args.camera, origins))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
