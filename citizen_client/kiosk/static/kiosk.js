// The booth's kiosk page: find the matter (then its place), take a ticket, wait, be served on
// video, rate, take the receipt; then everything of that citizen is cleared.
//
// The parts: state.js (set-up and state), screens.js (screen changes, idle, reset), views.js (what
// each screen shows), finder.js (the matter and the place), checklist.js (the materials during
// service), flow.js (the buttons), connection.js (the socket), media.js (call, camera), guests.js
// (a supervisor or a reviewer in the call, and the notice the citizen reads then).

import { apply } from "./i18n.js";
import { TOKEN_KEY, S } from "./state.js";
import { go, bindScreens } from "./screens.js";
import { render } from "./views.js";
import { bindFlow } from "./flow.js";
import { SetupNeeded, socket, showSetup, bindSocket } from "./connection.js";
import { bindMedia } from "./media.js";
import { bindChat } from "./chat.js"; // issue 18, conversation
import { bindCaption } from "./caption.js"; // issue 18, conversation
import { bindSigning } from "./signing.js"; // issue 18, signing
import { bindGuests } from "./guests.js"; // issue 19, guests

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
  bindChat(); // after bindSocket: its session_state handler runs after the page's own
  bindCaption();
  bindSigning(); // issue 18: the specialist's sign requests, over the service screen
  bindGuests(); // issue 19: a supervisor or reviewer joined: their peers and the citizen's notice
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
