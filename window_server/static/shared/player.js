// The recording player both the console and the dashboard use (served at /<page>/shared/player.js):
// a session's recording state, its segments (who was present in each), a <video> of the chosen
// segment with its gaps drawn red on a bar under it, and the session's event timeline beside it.
// Clicking an event selects the segment that covers its time and seeks to (ts - started_at) / 1000.
// Keyboard: every segment and event is a button (Tab, Enter); ↑/↓ Home/End move along the timeline.
// Words are its own (zh + en) through shared/i18n.js; the page says which language is on.

import { get } from "./api.js";
import { fill, h, clock } from "./dom.js";
import { createI18n } from "./i18n.js";

const WORDS = {
  zh: {
    title: "录像回放 · {sid}",
    loading: "正在加载录像…",
    "state.none": "无录像",
    "state.recording": "录制中（未封存）",
    "state.complete": "完整",
    "state.incomplete": "不完整",
    "state.failed": "录制失败",
    "state.purged": "已清除",
    segments: "录像分段",
    segment: "第 {n} 段",
    seg_span: "{from} – {to}",
    open_end: "进行中",
    present: "在场",
    booth: "展台 {id}",
    specialist: "专员 {id}",
    seg_incomplete: "不完整",
    gaps: "缺失片段",
    gap: "{from} – {to}（{len}）",
    no_gaps: "无缺失",
    bar: "时间轴（红色为缺失）",
    timeline: "办理记录",
    no_events: "暂无记录",
    by: "（{by}）",
    not_covered: "该时刻没有录像",
    starts_at: "录像自 {at} 开始",
    video_error: "视频无法播放：{msg}",
    err_forbidden: "您无权查看该会话的录像",
    err_purged: "该录像已按保存期限清除",
    err_generic: "录像无法加载：{msg}",
    "ev.enqueue": "取号",
    "ev.offer": "呼叫专员",
    "ev.accept": "接受办件",
    "ev.decline": "拒绝",
    "ev.offer_timeout": "呼叫超时",
    "ev.offer_lost": "呼叫失效",
    "ev.widen": "扩大到协同中心",
    "ev.transfer": "发起转派",
    "ev.transfer_offer": "转派呼叫",
    "ev.transfer_accept": "转派已接受",
    "ev.transfer_decline": "转派被拒绝",
    "ev.transfer_timeout": "转派超时",
    "ev.media_lost": "连接中断",
    "ev.media_back": "连接恢复",
    "ev.requeue": "重新排队",
    "ev.interrupt": "中断",
    "ev.complete": "办结",
    "ev.rate": "评价",
    "ev.leave": "市民离开",
    "ev.no_show": "过号",
    "ev.note": "备注",
    "ev.identity": "身份核验",
    "ev.case_number": "办件编号",
    "ev.material_added": "材料拍摄",
    "ev.verdict": "材料核验",
    "ev.material_viewed": "查看材料",
    "ev.capture_requested": "请求拍摄",
    "ev.materials_purged": "材料已清理",
    "ev.hold_set": "设置法律保全",
    "ev.hold_lifted": "解除法律保全",
    "ev.guest_join": "督导/会商加入", // issue 19: guests in the session
    "ev.guest_mode": "督导方式变更",
    "ev.guest_leave": "督导/会商离开",
    "ev.invite": "邀请审批部门",
    "ev.invite_accept": "审批部门接受邀请",
    "ev.invite_decline": "审批部门拒绝邀请",
    "ev.invite_expire": "邀请过期",
    "ev.invite_cancel": "撤回邀请",
    "ev.dept_mark": "部门意见",
    to_centre: "→ {centre}",
  },
  en: {
    title: "Playback · {sid}",
    loading: "Loading the recording…",
    "state.none": "No recording",
    "state.recording": "Recording (not sealed yet)",
    "state.complete": "Complete",
    "state.incomplete": "Incomplete",
    "state.failed": "Recording failed",
    "state.purged": "Purged",
    segments: "Segments",
    segment: "Segment {n}",
    seg_span: "{from} – {to}",
    open_end: "ongoing",
    present: "Present",
    booth: "Booth {id}",
    specialist: "Specialist {id}",
    seg_incomplete: "incomplete",
    gaps: "Missing spans",
    gap: "{from} – {to} ({len})",
    no_gaps: "Nothing missing",
    bar: "Timeline (red: missing)",
    timeline: "Session events",
    no_events: "No events",
    by: "({by})",
    not_covered: "Nothing was recorded at that moment",
    starts_at: "The recording starts at {at}",
    video_error: "The video cannot play: {msg}",
    err_forbidden: "You may not see this session's recording",
    err_purged: "This recording was purged after its retention period",
    err_generic: "The recording could not be loaded: {msg}",
    "ev.enqueue": "Ticket taken",
    "ev.offer": "Offered to a specialist",
    "ev.accept": "Accepted",
    "ev.decline": "Declined",
    "ev.offer_timeout": "Offer timed out",
    "ev.offer_lost": "Offer lost",
    "ev.widen": "Widened to partner centres",
    "ev.transfer": "Transfer started",
    "ev.transfer_offer": "Transfer offered",
    "ev.transfer_accept": "Transfer accepted",
    "ev.transfer_decline": "Transfer declined",
    "ev.transfer_timeout": "Transfer timed out",
    "ev.media_lost": "Connection lost",
    "ev.media_back": "Connection back",
    "ev.requeue": "Back in the queue",
    "ev.interrupt": "Interrupted",
    "ev.complete": "Completed",
    "ev.rate": "Rated",
    "ev.leave": "Citizen left",
    "ev.no_show": "No-show",
    "ev.note": "Note",
    "ev.identity": "Identity check",
    "ev.case_number": "Case number",
    "ev.material_added": "Still captured",
    "ev.verdict": "Still checked",
    "ev.material_viewed": "Still viewed",
    "ev.capture_requested": "Capture requested",
    "ev.materials_purged": "Stills purged",
    "ev.hold_set": "Legal hold set",
    "ev.hold_lifted": "Legal hold lifted",
    "ev.guest_join": "Guest joined",
    "ev.guest_mode": "Guest's mode changed",
    "ev.guest_leave": "Guest left",
    "ev.invite": "Department invited",
    "ev.invite_accept": "Invitation accepted",
    "ev.invite_decline": "Invitation declined",
    "ev.invite_expire": "Invitation expired",
    "ev.invite_cancel": "Invitation withdrawn",
    "ev.dept_mark": "Department's view",
    to_centre: "→ {centre}",
  },
};

const words = createI18n({ strings: WORDS });
const BAD_STATES = new Set(["incomplete", "failed", "purged"]); // recording states, not session states

/** A recording's state (complete, incomplete, failed, purged…) in words. */
export function stateLabel(state, language) {
  return words.tIn(language, `state.${state}`);
}

/** Whether a recording's state needs a look (incomplete, failed, purged). */
export function stateIsBad(state) {
  return BAD_STATES.has(state);
}

/** Where a segment's recording ends (epoch ms): its end, or as far as chunks reached. */
export function segmentEnd(seg) {
  return seg.ended_at ?? Number(seg.started_at) + Number(seg.duration_ms || 0);
}

/** The segment an instant falls in, and the offset (s) to seek to; else the next one from its start. */
export function locate(segments, ts) {
  const at = Number(ts);
  const covering = segments.find((s) => s.started_at <= at && at <= segmentEnd(s));
  if (covering) return { segment: covering, offset: (at - covering.started_at) / 1000, exact: true };
  const next = segments.filter((s) => s.started_at > at).sort((a, b) => a.started_at - b.started_at)[0];
  return next ? { segment: next, offset: 0, exact: false } : null;
}

/**
 * A player inside `root`.
 * @param {HTMLElement} root
 * @param {object} o
 * @param {() => string} o.lang  the page's language ("zh" | "en")
 * @param {(id: string) => string} [o.centreName]  a centre's name in that language
 * @param {string} [o.timeZone]  the halls' time zone for clock times (default: this computer's)
 */
export function createPlayer(root, { lang, centreName = (id) => id, timeZone } = {}) {
  const t = (key, vars) => words.tIn(lang(), key, vars);
  const hms = (ms) => new Date(Number(ms)).toLocaleTimeString("zh-CN", { hour12: false, timeZone });
  root.classList.add("rw-player");
  let view = null; // {recording, events} from the API
  let sid = "";
  let current = null; // the segment shown
  let error = "";
  let note = "";
  let picked = -1; // the index of the event last sought to
  let token = 0; // the newest open(); older answers are dropped

  const video = h("video.pl-video", { controls: true, preload: "metadata", playsInline: true });
  video.addEventListener("timeupdate", drawHead);
  video.addEventListener("seeked", drawHead);
  video.addEventListener("error", () => {
    if (!video.getAttribute("src")) return;
    setNote(t("video_error", { msg: video.error?.message || video.error?.code || "" }));
  });
  const head = h("div.pl-head", { "aria-hidden": "true" });

  function setNote(text) {
    note = text;
    const el = root.querySelector(".pl-note");
    if (el) el.textContent = note;
  }

  async function open(nextSid) {
    const mine = ++token;
    sid = nextSid;
    view = null;
    current = null;
    error = "";
    note = "";
    picked = -1;
    video.pause();
    video.removeAttribute("src");
    video.load();
    render();
    try {
      const got = await get(`/api/sessions/${encodeURIComponent(sid)}/recording`);
      if (mine !== token) return;
      view = got;
      const playable = view.recording.state === "purged" ? [] : view.recording.segments.filter((s) => s.chunks > 0);
      if (playable.length) await select(playable[0]);
    } catch (err) {
      if (mine !== token) return;
      error = err.status === 403 ? t("err_forbidden") : t("err_generic", { msg: err.message || err.code });
    }
    render();
  }

  function close() {
    token++;
    video.pause();
    video.removeAttribute("src");
    video.load();
    view = null;
    sid = "";
    fill(root);
  }

  /** Show `seg` in the video; resolves when its metadata is in (the video can seek). */
  function select(seg) {
    if (current && current.n === seg.n && video.readyState >= 1) return Promise.resolve();
    current = seg;
    render();
    return new Promise((resolve) => {
      const done = () => {
        video.removeEventListener("loadedmetadata", done);
        video.removeEventListener("error", done);
        resolve();
      };
      video.addEventListener("loadedmetadata", done);
      video.addEventListener("error", done);
      video.src = seg.url;
      video.load();
    });
  }

  /** Select the segment covering the `i`th event's time and seek to it. */
  async function seekToEvent(i) {
    const ts = view.events[i].ts;
    picked = i;
    for (const b of root.querySelectorAll(".pl-event")) {
      b.classList.toggle("pl-cur", Number(b.dataset.i) === i);
      b.setAttribute("aria-current", Number(b.dataset.i) === i ? "true" : "false");
    }
    const playable = view.recording.segments.filter((s) => s.chunks > 0);
    const where = view.recording.state === "purged" ? null : locate(playable, ts);
    if (!where) return setNote(t("not_covered"));
    await select(where.segment);
    video.currentTime = where.offset;
    root.dataset.seek = String(where.offset); // what the page asked for (tests read the video's own)
    setNote(where.exact ? "" : t("starts_at", { at: hms(where.segment.started_at) }));
    drawHead();
  }

  function drawHead() {
    if (!current) return;
    const span = Math.max(segmentEnd(current) - current.started_at, 1);
    head.style.left = `${Math.min(100, ((video.currentTime * 1000) / span) * 100)}%`;
  }

  // --- rendering ---------------------------------------------------------------------------------

  function presentText(p) {
    if (p.role === "booth") return t("booth", { id: p.id });
    const who = t("specialist", { id: p.id });
    return p.centre ? `${who} · ${centreName(p.centre)}` : who;
  }

  function segmentButton(seg) {
    const to = seg.ended_at ? hms(seg.ended_at) : t("open_end");
    const on = current && current.n === seg.n;
    return h(
      "li",
      {},
      h(
        "button.pl-seg",
        {
          type: "button",
          class: [on ? "pl-on" : "", seg.complete ? "" : "pl-bad"].join(" "),
          "aria-pressed": on ? "true" : "false",
          disabled: !seg.chunks || view.recording.state === "purged",
          dataset: { n: seg.n },
          on: { click: () => select(seg).then(drawHead) },
        },
        h("b", t("segment", { n: seg.n + 1 })),
        " ",
        t("seg_span", { from: hms(seg.started_at), to }),
        seg.complete ? "" : h("span.pl-flag", t("seg_incomplete")),
        h("span.pl-present", `${t("present")}: ${seg.present.map(presentText).join("、")}`),
      ),
    );
  }

  function bar(seg) {
    const span = Math.max(segmentEnd(seg) - seg.started_at, 1);
    const pct = (ms) => `${Math.max(0, Math.min(100, ((ms - seg.started_at) / span) * 100))}%`;
    const gaps = seg.gaps.map((g) => {
      const el = h("div.pl-gap", { title: `${hms(g.from)} – ${hms(g.to)}` });
      el.style.left = pct(g.from);
      el.style.width = `calc(${pct(g.to)} - ${pct(g.from)})`;
      return el;
    });
    return h("div.pl-bar", { role: "img", "aria-label": t("bar") }, gaps, head);
  }

  function gapList(seg) {
    if (!seg.gaps.length) return h("p.pl-nogaps", t("no_gaps"));
    return h(
      "ul.pl-gaps",
      { "aria-label": t("gaps") },
      seg.gaps.map((g) =>
        h("li.pl-gapitem", t("gap", { from: hms(g.from), to: hms(g.to), len: clock((g.to - g.from) / 1000) })),
      ),
    );
  }

  function eventLabel(ev) {
    const key = `ev.${ev.act}`;
    let text = words.has(key) ? t(key) : ev.act;
    if (ev.to_centre) text += ` ${t("to_centre", { centre: centreName(ev.to_centre) })}`;
    return text;
  }

  function onTimelineKey(ev) {
    const items = [...root.querySelectorAll(".pl-event")];
    const i = items.indexOf(document.activeElement);
    if (i < 0) return;
    const to = { ArrowDown: i + 1, ArrowUp: i - 1, Home: 0, End: items.length - 1 }[ev.key];
    if (to === undefined) return;
    ev.preventDefault();
    items[Math.max(0, Math.min(items.length - 1, to))].focus();
  }

  function timeline() {
    const evs = view.events;
    const playable = view.recording.segments.filter((s) => s.chunks > 0);
    return h(
      "section.pl-timeline",
      { "aria-label": t("timeline") },
      h("h4", t("timeline")),
      evs.length
        ? h(
            "ol.pl-events",
            { on: { keydown: onTimelineKey } },
            evs.map((ev, i) => {
              const covered = locate(playable, ev.ts)?.exact;
              return h(
                "li",
                {},
                h(
                  "button.pl-event",
                  {
                    type: "button",
                    class: [covered ? "" : "pl-off", i === picked ? "pl-cur" : ""].join(" "),
                    "aria-current": i === picked ? "true" : "false",
                    dataset: { i, ts: ev.ts, act: ev.act },
                    on: { click: () => seekToEvent(i) },
                  },
                  h("time", { dateTime: new Date(Number(ev.ts)).toISOString() }, hms(ev.ts)),
                  " ",
                  h("b", eventLabel(ev)),
                  ev.by ? h("span.pl-by", t("by", { by: ev.by })) : "",
                ),
              );
            }),
          )
        : h("p.pl-empty", t("no_events")),
    );
  }

  /** What has the focus inside the player, to give it back after a render. */
  function focused() {
    const el = document.activeElement;
    if (!el || !root.contains(el)) return null;
    if (el.classList.contains("pl-event")) return `.pl-event[data-i="${el.dataset.i}"]`;
    if (el.classList.contains("pl-seg")) return `.pl-seg[data-n="${el.dataset.n}"]`;
    return null;
  }

  function render() {
    const refocus = focused();
    draw();
    if (refocus) root.querySelector(refocus)?.focus();
  }

  function draw() {
    if (!sid) return fill(root);
    root.dataset.sid = sid;
    const top = h("h3.pl-title", t("title", { sid }));
    if (error) {
      root.dataset.state = "error";
      return fill(root, top, h("p.pl-error", { role: "alert" }, error));
    }
    if (!view) {
      delete root.dataset.state;
      return fill(root, top, h("p.pl-loading", t("loading")));
    }
    const rec = view.recording;
    root.dataset.state = rec.state;
    const state = h(`span.pl-state.${rec.state}`, { class: BAD_STATES.has(rec.state) ? "pl-bad" : "" }, t(`state.${rec.state}`));
    const left = h(
      "div.pl-left",
      rec.segments.length ? h("ol.pl-segs", { "aria-label": t("segments") }, rec.segments.map(segmentButton)) : "",
      rec.state === "purged" ? h("p.pl-error", t("err_purged")) : "",
      current ? [video, bar(current), gapList(current)] : "",
      h("p.pl-note", { role: "status" }, note),
    );
    fill(root, h("div.pl-top", top, state), h("div.pl-main", left, timeline()));
    drawHead();
  }

  return {
    open,
    close,
    render, // call after the page's language changed
    seekToEvent,
    get video() {
      return video;
    },
    get sid() {
      return sid;
    },
  };
}
