"""The ``cluster`` fixture: the production topology (nginx TLS, nodes, Redis + Sentinels, coturn) on
free ports of 127.0.0.1, one per test module, stopped at the module's end even when a test fails.

A module may set ``CLUSTER_NODES = 3`` or ``CLUSTER_ENV = {"RW_…": "…"}`` (settings for every node).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from window_server.cluster import Cluster


def _still_running(c: Cluster) -> dict[str, int]:
    return {name: row["pid"] for name, row in c.status().items() if row["alive"]}


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A running Cluster (window_server.cluster, contract C1 of issue 20), down at the module's end."""
    nodes = getattr(request.module, "CLUSTER_NODES", 2)
    env = dict(getattr(request.module, "CLUSTER_ENV", {}))
    c = Cluster(tmp_path_factory.mktemp("cluster"), nodes=nodes, env=env, die_with_parent=True)
    try:
        c.up()
        yield c
    finally:
        c.down()
    assert _still_running(c) == {}, "the cluster left processes behind"
