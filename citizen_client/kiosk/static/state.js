// The booth's set-up (its token, the device agent's port, test knobs) and the page's one state.
// Authentication (docs/booth.md): the booth token is given once as ?token=... when the booth is
// set up, kept in localStorage and removed from the address bar.

export const BOOTH = document.body.dataset.booth;
export const TOKEN_KEY = `rw.kiosk.${BOOTH}.token`;
const PORT_KEY = "rw.kiosk.devicePort";
export const DISMISSED_KEY = `rw.kiosk.${BOOTH}.dismissed`;
const params = new URLSearchParams(location.search);
if (params.get("token")) localStorage.setItem(TOKEN_KEY, params.get("token"));
if (/^\d{1,5}$/.test(params.get("device") || "")) localStorage.setItem(PORT_KEY, params.get("device"));
if (params.has("token") || params.has("device")) {
  params.delete("token");
  params.delete("device");
  const rest = params.toString();
  history.replaceState(null, "", location.pathname + (rest ? `?${rest}` : "")); // the token leaves the address bar
}
const IDLE_S = Number(params.get("idle")) || 0; // seconds; tests shorten the idle timeouts
export const IDLE_CHOOSING_S = IDLE_S || 90; // nobody touched a choosing screen for this long: start over
export const IDLE_RECEIPT_S = IDLE_S || 45; // the receipt stays this long
// ?record=0 turns the call recording off: only bench/recording_bench.py's baseline uses it (a kiosk
// in a hall always records; the citizen agreed to it before taking a ticket)
export const RECORD = params.get("record") !== "0";
export const DEVICE_PORT = Number(localStorage.getItem(PORT_KEY)) || 8765;

export const S = {
  screen: null,
  catalogue: null,
  category: null, // the category tile touched on the matter screen (a catalogue theme)
  group: null, // the matter's name touched (a name may be offered by several regions)
  region: null,
  matter: null,
  priority: "",
  session: null, // {sid, ticket, state, matter, agent, agent_centre, position, ahead, eta_s, wide, outcome, case_number}
  materials: new Map(),
  rating: null,
  rtc: { iceServers: [] }, // RTCConfiguration of the last connect token (shared/rtc.js)
  authProblem: null,
  greeted: null, // the specialist we announced, so a renegotiation is not announced again
};
