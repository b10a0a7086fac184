// The /agent socket: a staff socket whose refused token sends the specialist to the login page.

import { StaffSocket } from "../shared/staffsocket.js";

export { SocketError } from "../shared/staffsocket.js";

export class AgentSocket extends StaffSocket {
  constructor({ onStatus }) {
    super({
      namespace: "/agent",
      onStatus,
      onDenied: (err) => {
        if (err.status === 401) location.assign("/console/login");
      },
    });
  }
}
