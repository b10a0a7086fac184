// A guest's view (a supervisor or a department reviewer watching a live session, issue 19) is
// a second encode of a camera the call already sends. Sent at half size and a bounded rate it
// costs the booth's and the console's CPU a quarter of a second full encode, which on a small
// kiosk PC is what lets the guest's first frame arrive quickly (bench/call_setup_bench.py).

export const GUEST_VIDEO = { scaleResolutionDownBy: 2, maxBitrate: 600_000, maxFramerate: 15 };

/** Send every video track of a guest's peer connection at the guest's size (after the answer). */
export async function lightenForGuest(pc) {
  for (const sender of pc.getSenders()) {
    if (!sender.track || sender.track.kind !== "video") continue;
    const params = sender.getParameters();
    if (!params.encodings || params.encodings.length === 0) continue;
    for (const enc of params.encodings) Object.assign(enc, GUEST_VIDEO);
    try {
      await sender.setParameters(params);
    } catch (err) {
      console.debug("guest video left at full size", err.name);
    }
  }
}
