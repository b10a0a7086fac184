"""``python -m window_server cluster up|down|status|render``: the production topology on this machine."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from window_server.cluster.backup import BackupError
from window_server.cluster.config import Ports, render_deploy
from window_server.cluster.runner import STATE, Cluster, ClusterError

DEFAULT_ROOT = Path("var/cluster")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m window_server cluster",
        description="nginx (TLS, HTTP/2), Remote Window nodes, Redis primary + replica, 3 Sentinels and "
                    "coturn, started on 127.0.0.1 from the templates deploy/ is rendered from.")
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the cluster (fixed ports: https 8443, nodes 8081.., redis 6390-6392, "
                                   "sentinels 26390-26392, turn 3478/5349)")
    up.add_argument("--nodes", type=int, default=None, help="Remote Window nodes (default 2, or as last time)")
    up.add_argument("--root", type=Path, default=DEFAULT_ROOT, help=f"where everything lives (default {DEFAULT_ROOT})")
    up.add_argument("--free-ports", action="store_true", help="pick free ports instead of the fixed ones")
    up.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for everything (default 120)")
    up.add_argument("--restore", type=Path, default=None, metavar="BACKUP",
                    help="restore a backup (made by `cluster backup`) into this new cluster before it starts")
    bk = sub.add_parser("backup", help="snapshot Redis (from the replica) and copy the shared data directory")
    bk.add_argument("directory", type=Path, help="a new, empty directory for the backup")
    bk.add_argument("--root", type=Path, default=DEFAULT_ROOT, help=f"default {DEFAULT_ROOT}")
    for name, text in (("down", "stop everything the cluster under --root started"),
                       ("status", "each member: running or not, pid, port")):
        sp = sub.add_parser(name, help=text)
        sp.add_argument("--root", type=Path, default=DEFAULT_ROOT, help=f"default {DEFAULT_ROOT}")
        if name == "status":
            sp.add_argument("--json", action="store_true", help="print JSON")
    render = sub.add_parser("render", help="write the production configuration files (deploy/) from the templates")
    render.add_argument("directory", type=Path, nargs="?", default=Path("deploy"), help="default deploy/")
    return p


def _cluster_for_up(ns: argparse.Namespace) -> Cluster:
    """The cluster recorded under --root (same ports and secrets), or a new one."""
    if (ns.root / STATE).exists():
        old = Cluster.load(ns.root)
        same_shape = len(old.ports.redis) == len(Ports.default().redis)  # a state from before the 2nd replica
        if same_shape and (ns.nodes is None or ns.nodes == old.nodes):
            return old
        ns.nodes = ns.nodes or old.nodes
        old.down()
        c = Cluster(ns.root, nodes=ns.nodes, ports=Ports.free(ns.nodes) if ns.free_ports else Ports.default(ns.nodes))
        c.turn_secret, c.secret = old.turn_secret, old.secret
        return c
    nodes = ns.nodes or 2
    return Cluster(ns.root, nodes=nodes, ports=Ports.free(nodes) if ns.free_ports else Ports.default(nodes))


def _print_up(c: Cluster) -> None:
    p = c.ports
    print(f"Remote Window cluster is up under {c.root}")
    print(f"  https (nginx, TLS + HTTP/2): {c.https_url}   e.g. {c.https_url}/console")
    print(f"  CA to trust:                 {c.ca_file}   (curl --cacert {c.ca_file} {c.https_url}/readyz)")
    print(f"  nodes:                       {'  '.join(c.node_urls)}")
    print(f"  redis primary, replicas:     {', '.join(f'127.0.0.1:{q}' for q in p.redis)}")
    print(f"  sentinels:                   {', '.join(f'{h}:{q}' for h, q in c.sentinels)}   REDIS_URL={c.redis_url}")
    print(f"  turn:                        {c.ice_servers}  (relay ports {p.relay[0]}-{p.relay[1]})")
    print(f"  configuration, logs:         {c.root / 'conf'}, {c.root / 'logs'}")
    print("Demo logins are printed at the top of each node's log. Stop with: ./rw cluster down")


def _print_status(c: Cluster, as_json: bool) -> bool:
    status = c.status()
    if as_json:
        print(json.dumps(status, indent=1))
    else:
        for name, row in status.items():
            state = "running" if row["alive"] else "stopped"
            pid = row["pid"] if row["pid"] is not None else "-"
            print(f"{name:10} {state:8} pid {pid!s:>7}  port {row['port']}")
    return all(row["alive"] for row in status.values())


def main(argv: Sequence[str]) -> int:
    """Run one cluster command; return the exit status."""
    ns = _parser().parse_args(list(argv))
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        if ns.command == "render":
            for path in render_deploy(ns.directory):
                print(path)
            return 0
        if ns.command == "up":
            c = _cluster_for_up(ns)
            c.up(timeout=ns.timeout, restore_from=ns.restore)
            _print_up(c)
            return 0
        c = Cluster.load(ns.root)
        if ns.command == "backup":
            manifest = c.backup(ns.directory)
            print(f"backup in {ns.directory}: Redis snapshot {manifest['snapshot']['bytes']} bytes, "
                  f"{len(manifest['files'])} files of the data directory")
            return 0
        if ns.command == "down":
            c.down()
            left = [n for n, row in c.status().items() if row["alive"]]
            if left:
                print(f"still running: {', '.join(left)}", file=sys.stderr)
                return 1
            print(f"cluster under {c.root} stopped")
            return 0
        return 0 if _print_status(c, ns.json) else 3
    except (ClusterError, BackupError) as exc:
        print(f"window_server cluster: error: {exc}", file=sys.stderr)
        return 1
