"""Traffic simulator (issue 20): booths and specialists driving the public protocol, no media.

``run_simulation(SimConfig(...))`` returns a ``Summary`` of the manager's figures (SL, ASA,
abandonment, AHT), every ack latency and error code; ``SimBooth`` / ``SimSpecialist`` and the
``AckRecorder`` are the building blocks (bench/cluster_bench.py); ``wire`` is the light raw
socket.io client they share with bench/_wsload.py. See docs/simulate.md.
"""

from window_server.simulate.booth import SimBooth
from window_server.simulate.model import Citizen, Shares, SimConfig, Summary
from window_server.simulate.provision import provision_accounts
from window_server.simulate.recorder import AckRecorder, Refused, pct
from window_server.simulate.run import SimError, run_simulation
from window_server.simulate.specialist import SimSpecialist
from window_server.simulate.wire import ConnectRefused, Link, sio_connect, ws_url
from window_server.simulate.world import World

__all__ = [
    "AckRecorder",
    "Citizen",
    "ConnectRefused",
    "Link",
    "Refused",
    "Shares",
    "SimBooth",
    "SimConfig",
    "SimError",
    "SimSpecialist",
    "Summary",
    "World",
    "pct",
    "provision_accounts",
    "run_simulation",
    "sio_connect",
    "ws_url",
]
