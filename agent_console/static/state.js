// The console's one state object and the long-lived things every part uses: the /agent socket,
// the materials of the session, the server's clock, the sets of states from protocol.js.

import { Materials } from "./materials.js";
import { AgentSocket } from "./agent.js";
import { PROTOCOL, PRESENCE } from "../protocol/protocol.js";
import { toast } from "./feedback.js";
import { connStatus, renderSide } from "./render.js";

export const HELD = new Set(PROTOCOL.sessions.held); // a specialist holds the session

export const S = {
  ctx: null, // /api/console/context
  me: "",
  skew: 0, // server clock - this clock, ms
  presence: PRESENCE.OFFLINE,
  queue: [],
  queueAt: 0,
  offer: null, // {sid, deadline, transfer, matter, region, language, priority, ticket, detail}
  missed: null, // {sid, ticket, transfer}: the offer I let run out, told in the centre (issue 19)
  sess: null, // {sid, ticket, matter, region, intake, state, since, detail, identity, xfer, banner}
  wrap: null, // {until, sid, rating}
  local: null, // MediaStream of my camera and microphone
  peers: new Map(), // pc name -> Peer
  device: null, // {sid, cameras} from device_ready
  muted: false,
  camOff: false,
  share: null, // my display MediaStream while sharing
  marks: {}, // timings for tests and the bench (wall-clock ms)
};

export const sock = new AgentSocket({ onStatus: (online) => connStatus(online) });
export const materials = new Materials({ sock, state: S, toast, onChange: () => renderSide() });
export const serverNow = () => Date.now() + S.skew;
