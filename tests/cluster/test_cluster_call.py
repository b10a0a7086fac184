"""Issue 20's Done-when, the call: a booth → specialist session through the production topology,
with every medium relayed through the cluster's coturn (``RW_ICE_TRANSPORT_POLICY=relay``).

Real parts only: the ``cluster`` fixture (nginx with TLS in front of two nodes, Redis + Sentinels,
coturn), the kiosk and the console in real Chromium through nginx's https URL, and the booth's
device agent (aiortc, synthetic 高拍仪) in this process. The kiosk queues, the console accepts,
video decodes both ways and the 高拍仪's preview decodes at the console; getStats() on both pages
shows the selected candidate pair relay ↔ relay through this cluster's TURN server, and that no
page gathered or was offered a host or server-reflexive candidate at all. The kiosk stands in a
hall whose firewall lets only TCP out: it is handed the ``turns:`` URL only, so its media goes to
coturn over TLS while the console's goes over UDP, both through the same relay.

Chromium trusts exactly the cluster's server key (``--ignore-certificate-errors-spki-list``, the
SPKI of the certificate nginx presents, which is first verified against the cluster's CA file):
Playwright's ``ignore_https_errors`` covers pages only, and Chromium's TURN-over-TLS client checks
certificates too (with an untrusted one it reports 701 "Failed to establish connection").

What relaying on one machine needed (measured with coturn 4.6.1 and Chromium here): coturn relays
toward 127.0.0.1 only with ``allow-loopback-peers`` *and* 127.0.0.1 in ``allowed-peer-ip`` (it
checks the loopback switch first, then the allow list before the denied ranges, which include
127.0.0.0/8); without either, CreatePermission answers 403 Forbidden IP and ICE never connects.
Chromium gathers relay candidates from a TURN server on 127.0.0.1 with or without
``--allow-loopback-in-peer-connection`` (that flag is about host candidates).

The device agent has no CA option, so it connects to a node's own http address (as the demo's
device agent does); its media still goes through coturn, which is what is checked here.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from citizen_client.agent import AgentConfig, DeviceAgent
from citizen_client.camera import open_camera
from tests.console.conftest import VIEWPORT, Console
from tests.console.test_journey import KIOSK_FRAMES, RECORD_PCS
from tests.screens import Screens, chromium, walk_to_consent
from window_server.accounts.store import demo_booth_token
from window_server.cluster import Cluster
from window_server.runtime.catalogue import load_catalogue

CLUSTER_ENV = {"RW_ICE_TRANSPORT_POLICY": "relay"}  # read by tests/cluster/conftest.py's `cluster`

MATTER = "js-320600-housing-fund-transfer"  # 住房公积金异地转移接续, served by js-nantong
SPECIALIST = "spec-js-nantong"
BOOTH = "sh-yangpu-01"  # a demo booth of another centre (the cluster runs no demo device agent)

# The selected candidate pair of a peer connection and every candidate it knows, from getStats().
PAIR = """
window.__pair = async (pc) => {
  const stats = await pc.getStats();
  const out = { local: [], remote: [], pair: null };
  stats.forEach((r) => {
    if (r.type === "local-candidate") out.local.push(r.candidateType);
    if (r.type === "remote-candidate") out.remote.push(r.candidateType);
    if (r.type === "transport" && r.selectedCandidatePairId) {
      const p = stats.get(r.selectedCandidatePairId);
      const l = stats.get(p.localCandidateId), rm = stats.get(p.remoteCandidateId);
      out.pair = { state: p.state, local: l.candidateType, remote: rm.candidateType, url: l.url || "",
                   relayProtocol: l.relayProtocol || "", bytes: p.bytesReceived + p.bytesSent,
                   ends: [[l.address, l.port], [rm.address, rm.port]] };
    }
  });
  return out;
};
"""
# The hall's firewall lets only TCP out: the kiosk's peer connections keep the turns: URLs (TURN over
# TLS) of the configuration the page builds, and nothing else of it changes.
TCP_ONLY = """
(() => {
  const Native = window.RTCPeerConnection;
  function TcpOnly(config, ...rest) {
    const iceServers = (config.iceServers || []).map((s) => ({
      ...s, urls: [].concat(s.urls).filter((u) => u.startsWith("turns:")) }));
    return new Native({ ...config, iceServers }, ...rest);
  }
  TcpOnly.prototype = Native.prototype;
  Object.setPrototypeOf(TcpOnly, Native);
  window.RTCPeerConnection = TcpOnly;
})();
"""
CONSOLE_PAIR = "(name) => window.__pair(window.rwConsole.state.peers.get(name).pc)"
KIOSK_PAIRS = """async () => {
  const out = [];
  for (const pc of window.__pcs) if (pc.connectionState === "connected") out.push(await window.__pair(pc));
  return out;
}"""


async def pinned_key(cluster: Cluster) -> str:
    """The base64 SHA-256 of the public key nginx presents, once its chain verified against the CA."""
    url = urlsplit(cluster.https_url)
    context = ssl.create_default_context(cafile=str(cluster.ca_file))
    async with asyncio.timeout(10):
        _, writer = await asyncio.open_connection(url.hostname, url.port, ssl=context)
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    finally:
        writer.close()
        await writer.wait_closed()
    spki = x509.load_der_x509_certificate(der).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


@contextlib.asynccontextmanager
async def device_agent(server: str) -> AsyncIterator[DeviceAgent]:
    """The booth's device agent with the synthetic 高拍仪, registered on ``server``."""
    camera = open_camera("synthetic")
    await camera.open()
    agent = DeviceAgent(AgentConfig(server=server, booth=BOOTH, token=demo_booth_token(BOOTH), control_port=0),
                        camera)
    task = asyncio.create_task(agent.run())
    try:
        await agent.wait_for(lambda s: s.registered, within=30)
        yield agent
    finally:
        async with asyncio.timeout(30):
            await agent.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await camera.close()


def turn_urls(cluster: Cluster) -> list[str]:
    return [u.strip() for u in cluster.ice_servers.split(",") if u.strip()]


def assert_relayed(seen: dict[str, Any], cluster: Cluster, what: str, scheme: str | None = None) -> None:
    """The selected pair is relay on both ends, through this cluster's TURN server (reached with
    ``scheme`` if given: turn: over UDP, turns: over TLS), and the page never gathered (or was
    offered) a candidate of another type."""
    pair = seen["pair"]
    assert pair is not None and pair["state"] == "succeeded", (what, seen)
    # The remote end may be peer-reflexive: a check through the other side's relay came in before
    # its candidate did. Either way both ends are addresses coturn relays from.
    assert pair["local"] == "relay" and pair["remote"] in ("relay", "prflx"), (what, seen)
    low, high = cluster.ports.relay
    for address, port in pair["ends"]:
        assert address == "127.0.0.1" and low <= port <= high, (what, pair)
    assert pair["url"] in turn_urls(cluster), (what, pair)
    used = pair["url"].split(":")[0]
    assert pair["relayProtocol"] == {"turn": "udp", "turns": "tls"}[used], (what, pair)
    assert scheme in (None, used), (what, pair)
    assert set(seen["local"]) == {"relay"} and set(seen["remote"]) <= {"relay", "prflx"}, (what, seen)
    assert pair["bytes"] > 0, (what, pair)


async def test_the_grant_carries_the_relay_policy_and_turn_credentials(cluster: Cluster) -> None:
    context = ssl.create_default_context(cafile=str(cluster.ca_file))  # nginx's chain: the cluster CA's
    async with aiohttp.ClientSession() as http, http.post(
        f"{cluster.https_url}/api/booths/{BOOTH}/connect-token", json={"role": "booth"}, ssl=context,
        headers={"Authorization": f"Bearer {demo_booth_token(BOOTH)}"},
    ) as resp:
        assert resp.status == 200, await resp.text()
        grant = await resp.json()
    assert grant["ice_transport_policy"] == "relay"
    [turn] = grant["ice_servers"]
    assert turn["urls"] == turn_urls(cluster) and turn["username"] and turn["credential"]


@pytest.mark.timeout(240)
async def test_a_booth_call_through_nginx_tls_relayed_by_coturn(cluster: Cluster, tmp_path: Path) -> None:
    base = cluster.https_url
    region = load_catalogue(None, None).matter(MATTER).home_region
    spki = await pinned_key(cluster)
    async with chromium(f"--ignore-certificate-errors-spki-list={spki}") as browser, \
            device_agent(cluster.node_urls[0]) as agent:
        cctx = await browser.new_context(viewport=VIEWPORT, locale="zh-CN")
        kctx = await browser.new_context(viewport=VIEWPORT, locale="zh-CN")
        try:
            await cctx.add_init_script(PAIR)
            await kctx.add_init_script(TCP_ONLY + RECORD_PCS + PAIR)  # RECORD_PCS wraps TCP_ONLY
            console = Console(await cctx.new_page(), base, tmp_path, "console")
            await console.login(SPECIALIST, shot=False)
            await console.available()
            kiosk = Screens(await kctx.new_page(), tmp_path, "kiosk")

            # the kiosk queues, the console is offered the session and accepts
            await walk_to_consent(kiosk.page, f"{base}/booth/{BOOTH}?token={demo_booth_token(BOOTH)}",
                                  region, MATTER)
            await kiosk.page.click("#consent-yes")
            await kiosk.screen("waiting")
            ticket = await kiosk.text("#ticket")
            await console.page.wait_for_selector(f"#offer-body:has-text('{ticket}')", timeout=20000)
            await console.page.keyboard.press("a")
            await console.page.wait_for_selector("#service:not([hidden])", timeout=15000)
            await kiosk.screen("service")

            # video both ways and the 高拍仪's preview, each decoded after going through coturn
            assert await console.frames_decoded("call", 30000) > 0, "the citizen's video in the console"
            assert int(await kiosk.page.evaluate(KIOSK_FRAMES, 30000)) > 0, "the specialist's video at the booth"
            assert await console.frames_decoded("preview", 30000) > 0, "the 高拍仪 preview in the console"
            await agent.wait_for(lambda _s: bool(agent.status()["preview"]["peer"] == "connected"), within=15)

            assert_relayed(await console.page.evaluate(CONSOLE_PAIR, "call"), cluster, "console call")
            assert_relayed(await console.page.evaluate(CONSOLE_PAIR, "preview"), cluster, "console preview")
            kiosk_pairs = await kiosk.page.evaluate(KIOSK_PAIRS)
            assert kiosk_pairs, "the kiosk has a connected peer connection"
            for seen in kiosk_pairs:
                assert_relayed(seen, cluster, "kiosk", "turns")
            assert not console.errors and not kiosk.errors, (console.errors, kiosk.errors)
        finally:
            async with asyncio.timeout(30):
                await kctx.close()
                await cctx.close()
