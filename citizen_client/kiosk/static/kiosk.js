// The booth's kiosk page: choose the place and the matter, take a ticket, wait, be served on
// video, rate, take the receipt; then everything of that citizen is cleared.
//
// The parts: state.js (set-up and state), screens.js (screen changes, idle, reset), views.js (what
// each screen shows), flow.js (the buttons), connection.js (the socket), media.js (call, camera).

import { apply } from "./i18n.js";
import { TOKEN_KEY, S } from "./state.js";
import { go, bindScreens } from "./screens.js";
import { render } from "./views.js";
import { bindFlow } from "./flow.js";
import { SetupNeeded, socket, showSetup, bindSocket } from "./connection.js";
import { bindMedia } from "./media.js";

async function loadCatalogue() {
  for (let delay = 1000; ; delay = Math.min(delay * 2, 15000)) {
    try {
      const resp = await fetch("/api/catalogue");
      if (resp.ok) return await resp.json();
    } catch {
      // the server is not there yet
    }
    await new Promise((r) => setTimeout(r, delay));
  }
}

async function start() {
  bindScreens();
  bindFlow();
  bindSocket();
  bindMedia();
  apply();
  if (!localStorage.getItem(TOKEN_KEY)) {
    S.authProblem = new SetupNeeded("no booth token");
    showSetup("setup_body");
    return;
  }
  go("welcome", { speak: false });
  S.catalogue = await loadCatalogue();
  render();
  socket.connect();
}

start();
