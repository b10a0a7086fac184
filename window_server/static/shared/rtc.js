// The RTCPeerConnection configuration a connect token grants (docs/protocol.md, the connect-token
// answers): its `ice_servers` (never a public default) and its `ice_transport_policy`; "relay"
// makes Chromium gather and use TURN-relayed candidates only (RW_ICE_TRANSPORT_POLICY).

/** @returns {RTCConfiguration} */
export function rtcConfig(grant) {
  return {
    iceServers: (grant && grant.ice_servers) || [],
    iceTransportPolicy: grant && grant.ice_transport_policy === "relay" ? "relay" : "all",
  };
}
