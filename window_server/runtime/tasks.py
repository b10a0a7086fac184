"""The node's background-task helpers; their one home is ``signaling/tasks.py`` (signaling imports
nothing from window_server but the domain), re-exported here for the server's packages."""

from __future__ import annotations

from signaling.tasks import cancelled, pause, periodic, stop_tasks

__all__ = ["cancelled", "pause", "periodic", "stop_tasks"]
