"""The production topology brought up on one machine, and the configuration files it shares with deploy/."""

from window_server.cluster.config import Ports
from window_server.cluster.runner import Cluster, ClusterError

__all__ = ["Cluster", "ClusterError", "Ports"]
