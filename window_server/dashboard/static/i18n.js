// Words of the dashboard, Chinese first. Elements carry data-i18n="key"; apply() fills them.

const WORDS = {
  zh: {
    title: "远程虚拟窗口 · 管理看板",
    chain: "全链",
    scope: "范围",
    from: "从",
    to: "至",
    today: "今天",
    logout: "退出",
    live: "实时",
    waiting: "等待中",
    longest_wait: "最长等待",
    in_service: "服务中",
    transfers_pending: "转派待接",
    specialists: "专员",
    available: "空闲",
    offered: "振铃",
    wrap_up: "整理",
    away: "暂离",
    offline: "离线",
    kpis: "指标",
    tickets: "取号",
    served: "已服务",
    abandoned: "放弃",
    short_abandons: "短时放弃",
    no_show: "过号",
    asa: "平均应答时长",
    service_level: "服务水平",
    aht: "平均处理时长",
    transfers: "转派",
    satisfaction: "满意率",
    coverage: "评价覆盖率",
    bad_reviews: "差评",
    open: "未办结",
    overdue: "超期",
    closed: "已办结",
    over_wait: "超时等待",
    over_handle: "超时办理",
    thresholds: "T = {t} 秒内应答计入服务水平；S = {s} 秒内放弃不计入；等待告警 {w} 秒",
    chart_waiting: "全天等待人数（每 15 分钟）",
    chart_level: "全天服务水平（按取号时段）",
    centres: "各中心",
    centre: "中心",
    queue_waiting: "可受理队列",
    today_tickets: "今日取号",
    today_level: "今日服务水平",
    alarms: "告警",
    regions: "属地队列",
    region: "属地",
    staff: "在线专员",
    no_specialist: "{region}：{n} 人等待，无可用专员",
    long_wait: "{centre}：{n} 人等待超过告警阈值，最长 {w}",
    no_alarms: "无告警",
    drill: "分组明细",
    group_centre: "按中心",
    group_matter: "按事项",
    group_pair: "收件地→服务地",
    group_intake: "按收件地",
    group_serving: "按服务地",
    group_total: "合计",
    group: "分组",
    unanswered: "（未应答）",
    reviews: "差评跟进",
    session: "会话",
    level: "评价",
    rated_at: "评价时间",
    matter: "事项",
    intake: "收件地",
    serving: "服务地",
    called_back: "回访",
    rectified: "整改",
    replied: "反馈",
    status: "状态",
    due: "期限",
    done: "已完成",
    mark: "标记",
    comment: "意见",
    none: "暂无",
    exports: "导出（个人信息已脱敏）",
    export_sessions: "会话明细 CSV",
    export_ratings: "评价明细 CSV",
    as_of: "数据时间",
    connected: "实时连接正常",
    disconnected: "实时连接已断开，正在重连…",
    back_to_chain: "返回全链",
    longest_list: "等待最久",
    ticket: "号码",
    waited: "已等待",
    login: "登录",
    username: "用户名",
    password: "密码",
    login_title: "管理看板登录",
    login_failed: "登录失败",
    role_needed: "需要中心管理员、组长或总管理员账号。",
    demo_hint: "演示账号：mgr-sh-huangpu、chain-manager，密码 demo1234",
    error: "出错了",
  },
  en: {
    title: "Remote Window · Manager dashboard",
    chain: "Whole chain",
    scope: "Scope",
    from: "From",
    to: "to",
    today: "Today",
    logout: "Log out",
    live: "Live",
    waiting: "Waiting",
    longest_wait: "Longest wait",
    in_service: "In service",
    transfers_pending: "Transfers pending",
    specialists: "Specialists",
    available: "available",
    offered: "offered",
    wrap_up: "wrap-up",
    away: "away",
    offline: "offline",
    kpis: "Figures",
    tickets: "Tickets",
    served: "Served",
    abandoned: "Abandoned",
    short_abandons: "Short abandons",
    no_show: "No-shows",
    asa: "ASA",
    service_level: "Service level",
    aht: "AHT",
    transfers: "Transfers",
    satisfaction: "Satisfaction",
    coverage: "Rating coverage",
    bad_reviews: "Bad reviews",
    open: "open",
    overdue: "overdue",
    closed: "closed",
    over_wait: "Over wait threshold",
    over_handle: "Over handling threshold",
    thresholds: "Answered within T = {t} s counts for the service level; abandons within S = {s} s are left out; wait alarm at {w} s",
    chart_waiting: "Sessions waiting through the day (per 15 min)",
    chart_level: "Service level through the day (by ticket time)",
    centres: "Centres",
    centre: "Centre",
    queue_waiting: "Queue it serves",
    today_tickets: "Tickets today",
    today_level: "Service level today",
    alarms: "Alarms",
    regions: "Home-region queues",
    region: "Region",
    staff: "Signed in",
    no_specialist: "{region}: {n} waiting and no specialist available",
    long_wait: "{centre}: {n} waiting past the alarm threshold, longest {w}",
    no_alarms: "No alarms",
    drill: "Drill-down",
    group_centre: "By centre",
    group_matter: "By matter",
    group_pair: "Intake → serving",
    group_intake: "By intake centre",
    group_serving: "By serving centre",
    group_total: "Total",
    group: "Group",
    unanswered: "(unanswered)",
    reviews: "Bad-review follow-up",
    session: "Session",
    level: "Rating",
    rated_at: "Rated",
    matter: "Matter",
    intake: "Intake",
    serving: "Serving",
    called_back: "Called back",
    rectified: "Rectified",
    replied: "Replied",
    status: "Status",
    due: "due",
    done: "done",
    mark: "Mark",
    comment: "Comment",
    none: "None",
    exports: "Exports (personal data masked)",
    export_sessions: "Sessions CSV",
    export_ratings: "Ratings CSV",
    as_of: "As of",
    connected: "Live connection up",
    disconnected: "Live connection lost, reconnecting…",
    back_to_chain: "Back to the chain",
    longest_list: "Longest waits",
    ticket: "Ticket",
    waited: "Waited",
    login: "Log in",
    username: "Username",
    password: "Password",
    login_title: "Dashboard login",
    login_failed: "Login failed",
    role_needed: "This needs a manager, team lead or chain manager account.",
    demo_hint: "Demo accounts: mgr-sh-huangpu, chain-manager, password demo1234",
    error: "Something went wrong",
  },
};

const LEVELS = {
  zh: { 5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意" },
  en: { 5: "very satisfied", 4: "satisfied", 3: "fairly satisfied", 2: "dissatisfied", 1: "very dissatisfied" },
};

let lang = localStorage.getItem("rw.dashboard.lang") === "en" ? "en" : "zh";

export function currentLang() {
  return lang;
}

export function setLang(value) {
  lang = value === "en" ? "en" : "zh";
  localStorage.setItem("rw.dashboard.lang", lang);
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
}

/** The word for ``key`` with {name} placeholders filled. */
export function t(key, values = {}) {
  const text = WORDS[lang][key] ?? WORDS.zh[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
}

export function levelLabel(level) {
  return LEVELS[lang][level] ?? String(level);
}

/** Fill every [data-i18n] element of ``root`` in the current language. */
export function apply(root = document) {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  for (const el of root.querySelectorAll("[data-i18n]")) {
    el.textContent = t(el.dataset.i18n);
  }
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
}

export function percent(x) {
  return x === null || x === undefined ? "–" : `${(x * 100).toFixed(1)}%`;
}

/** Seconds as m:ss (or h:mm:ss); "–" for none. */
export function duration(s) {
  if (s === null || s === undefined) return "–";
  const total = Math.round(s);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

let timeZone; // the halls' time zone (RW_TIMEZONE), whatever the browser's is

export function setTimeZone(tz) {
  timeZone = tz;
}

export function dateTime(ms) {
  if (!ms) return "–";
  return new Date(ms).toLocaleString(lang === "zh" ? "zh-CN" : "en-GB", { hour12: false, timeZone });
}
