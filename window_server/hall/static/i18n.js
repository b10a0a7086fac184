// Words of the hall pages (the call display, the staff view, their login), Chinese first; the
// choice is remembered on the hall's PC.

import { createI18n } from "../shared/i18n.js";

const WORDS = {
  zh: {
    login_title: "大厅登录",
    username: "用户名",
    password: "密码",
    login: "登录",
    login_failed: "登录失败",
    role_needed: "这个账号不能打开本大厅的页面：请用本大厅的工作人员、组长或管理员账号登录。",
    demo_hint: "演示账号",
    display_title: "远程窗口叫号",
    voice_on: "点此开启语音播报",
    voice_ready: "语音播报已开启",
    call_words: "请 {ticket} 号到远程窗口办理",
    call_where: "请到任意一台远程窗口，点按您的号码",
    stale: "与服务器的连接中断，正在重试……",
    staff_title: "需要帮助的远程窗口",
    sound_on: "点此开启提示音",
    sound_ready: "提示音已开启",
    col_booth: "远程窗口",
    col_since: "呼叫时间",
    col_waited: "已等候",
    col_reason: "事由",
    col_ticket: "号码",
    col_action: "操作",
    reason_help: "需要帮助",
    reason_device: "设备问题",
    reason_accessibility: "无障碍协助",
    ack: "已处理",
    help_none: "现在没有远程窗口呼叫工作人员。",
  },
  en: {
    login_title: "Hall login",
    username: "Username",
    password: "Password",
    login: "Log in",
    login_failed: "Login failed",
    role_needed: "This account may not open this hall's pages: log in as this hall's staff, team lead or manager.",
    demo_hint: "Demo account",
    display_title: "Remote window calls",
    voice_on: "Touch here to turn the spoken calls on",
    voice_ready: "Spoken calls are on",
    call_words: "Number {ticket}, please go to a remote window",
    call_where: "Go to any remote-window booth and touch your number",
    stale: "Lost the connection to the server; retrying…",
    staff_title: "Booths calling for help",
    sound_on: "Touch here to turn the alert sound on",
    sound_ready: "Alert sound is on",
    col_booth: "Booth",
    col_since: "Called at",
    col_waited: "Waiting",
    col_reason: "Why",
    col_ticket: "Ticket",
    col_action: "Action",
    reason_help: "Needs help",
    reason_device: "Device problem",
    reason_accessibility: "Accessibility help",
    ack: "Handled",
    help_none: "No booth is calling for staff now.",
  },
};

const i18n = createI18n({ strings: WORDS, remember: "rw.hall.lang" });

export const { t, tIn, apply, getLang, setLang, onLang } = i18n;

/** The centre's name in the current language, from the page's data-zh / data-en. */
export function applyCentreName() {
  for (const el of document.querySelectorAll(".centre-name")) {
    el.textContent = (getLang() === "en" ? el.dataset.en : el.dataset.zh) || el.dataset.zh || "";
  }
}
