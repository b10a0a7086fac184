"""The numbers signaling runs on: a small frozen table built by the composition root from Settings."""

from __future__ import annotations

from dataclasses import dataclass

from signaling.budget import Limits


@dataclass(frozen=True)
class SignalingSettings:
    """What the transport needs to know; ``window_server/app.py`` builds it from the node's Settings."""

    redis_url: str  # the cross-node bus
    allowed_origins: tuple[str, ...]  # empty: only this server's own origin
    max_message_bytes: int
    ping_interval_seconds: float
    ping_timeout_seconds: float
    auth_deadline_seconds: float
    rate_limit_per_second: float
    rate_limit_burst: int
    limits: Limits  # the inbound budget of each engine.io connection
    max_outbound_packets: int  # queued for one socket past this, it is a slow consumer and dropped
    bus_probe_seconds: float
    revocation_sweep_seconds: float
