// The /agent socket: a fresh connect token on every (re)connect, acknowledgements as promises.

import { io } from "/console/vendor/socket.io.esm.min.js";
import { post } from "../shared/api.js";

export class SocketError extends Error {
  constructor(code, message, field) {
    super(message || code);
    this.code = code;
    this.field = field;
  }
}

export class AgentSocket {
  constructor({ onStatus }) {
    this.iceServers = [];
    this.onStatus = onStatus || (() => {});
    this.socket = io("/agent", {
      transports: ["websocket"],
      autoConnect: false,
      reconnectionDelay: 500,
      reconnectionDelayMax: 4000,
      // Called before every connection attempt: tokens live two minutes, reconnects may be later.
      auth: (cb) => {
        post("/api/connect-token", { namespace: "/agent" })
          .then((tok) => {
            this.iceServers = tok.ice_servers || [];
            cb({ token: tok.token });
          })
          .catch((err) => {
            if (err.status === 401) location.assign("/console/login");
            cb({ token: "" });
          });
      },
    });
    this.socket.on("connect", () => this.onStatus(true));
    this.socket.on("disconnect", () => this.onStatus(false));
    this.socket.on("connect_error", (err) => {
      this.onStatus(false, err?.data?.code);
      // A refusal (bad token) does not retry by itself in socket.io 4; try again shortly.
      if (!this.socket.active) setTimeout(() => this.socket.connect(), 1500);
    });
  }

  connect() {
    this.socket.connect();
  }

  on(event, fn) {
    this.socket.on(event, fn);
  }

  get connected() {
    return this.socket.connected;
  }

  /** Send a client event; resolve with its ok payload, reject with a SocketError. */
  async call(event, data = {}, timeoutMs = 10000) {
    let reply;
    try {
      reply = await this.socket.timeout(timeoutMs).emitWithAck(event, data);
    } catch {
      throw new SocketError("timeout", `${event}: no answer`);
    }
    if (reply && "ok" in reply) return reply.ok;
    const e = (reply && reply.error) || {};
    throw new SocketError(e.code || "internal_error", e.message, e.field);
  }

  /** Fire and forget (signaling ICE candidates): errors are logged, not thrown. */
  send(event, data) {
    this.call(event, data).catch((err) => console.debug("send failed", event, err.code));
  }
}
