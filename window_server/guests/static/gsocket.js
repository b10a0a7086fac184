// The /guest socket: a fresh connect token on every (re)connect, acknowledgements as promises.

import { io } from "../vendor/socket.io.esm.min.js";
import { post } from "../shared/api.js";

export class SocketError extends Error {
  constructor(code, message, field) {
    super(message || code);
    this.code = code;
    this.field = field;
  }
}

export class GuestSocket {
  constructor({ onStatus, onDenied }) {
    this.iceServers = [];
    this.onStatus = onStatus || (() => {});
    this.socket = io("/guest", {
      transports: ["websocket"],
      autoConnect: false,
      reconnectionDelay: 500,
      reconnectionDelayMax: 4000,
      auth: (cb) => {
        post("/api/connect-token", { namespace: "/guest" })
          .then((tok) => {
            this.iceServers = tok.ice_servers || [];
            cb({ token: tok.token });
          })
          .catch((err) => {
            if (err.status === 401 || err.status === 403) (onDenied || (() => {}))(err);
            cb({ token: "" });
          });
      },
    });
    this.socket.on("connect", () => this.onStatus(true));
    this.socket.on("disconnect", () => this.onStatus(false));
    this.socket.on("connect_error", () => {
      this.onStatus(false);
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

  /** Fire and forget (ICE candidates): errors are logged, not thrown. */
  send(event, data) {
    this.call(event, data).catch((err) => console.debug("send failed", event, err.code));
  }
}
