// The settings window: loads the app state, keeps the status fresh, edits the settings.
import { buildUpstream, parseUpstream } from "./lib/upstream.js";
import { formFieldFor, validateForm } from "./lib/validate.js";
import { filterLogs, statusView, testResultText } from "./lib/render.js";
import { pickLanguage, t, translateDom, useCatalogue } from "./lib/i18n.js";

const invoke = (cmd, args) => window.__TAURI__.core.invoke(cmd, args);
const $ = (id) => document.getElementById(id);

const DEFAULT_BYPASS = [
  "localhost", "127.0.0.0/8", "::1", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "*.local",
];

let settings = null; // the saved settings (core schema)
let logLevel = "INFO";
let language = null;

async function loadCatalogue(lang) {
  const read = async (l) => (await fetch(`i18n/${l}.json`)).json();
  const english = await read("en");
  useCatalogue(lang === "en" ? english : await read(lang), english);
}

/** Shows the window in the language the settings (or the OS) ask for. */
async function applyLanguage(setting) {
  const lang = pickLanguage(setting, navigator.languages ?? [navigator.language]);
  if (lang === language) return;
  await loadCatalogue(lang);
  language = lang;
  document.documentElement.lang = lang;
  translateDom(document);
  $("reveal").textContent = t($("upstream-password").type === "password" ? "upstream.show" : "upstream.hide");
}

function splitListen(listen) {
  const v6 = /^\[(.+)\]:(\d+)$/.exec(listen);
  if (v6) return [v6[1], v6[2]];
  const i = listen.lastIndexOf(":");
  return [listen.slice(0, i), listen.slice(i + 1)];
}

/** The form's current values as a plain model. */
function readForm() {
  return {
    upstream: {
      type: $("upstream-type").value,
      host: $("upstream-host").value.trim(),
      port: $("upstream-port").value.trim(),
      username: $("upstream-username").value,
      password: $("upstream-password").value,
      remoteDns: $("upstream-remote-dns").checked,
    },
    via: $("upstream-via").value.trim(),
    probeTarget: $("probe-target").value.trim(),
    listenHost: $("listen-host").value.trim(),
    listenPort: $("listen-port").value.trim(),
    allowLan: $("allow-lan").checked,
    authUser: $("auth-username").value,
    authPass: $("auth-password").value,
    sysproxy: document.querySelector("input[name=sysproxy]:checked")?.value ?? "off",
    bypass: $("bypass").value.split("\n").map((s) => s.trim()).filter(Boolean),
    guard: $("guard").checked,
    startAtLogin: $("start-at-login").checked,
    enableOnLaunch: $("enable-on-launch").checked,
    notifyDown: $("notify-down").checked,
    language: $("language").value,
  };
}

/** Form model → core settings object. */
function toSettings(form) {
  const host = form.listenHost.includes(":") ? `[${form.listenHost}]` : form.listenHost;
  return {
    ...settings,
    listen: `${host}:${form.listenPort}`,
    upstream: buildUpstream(form.upstream),
    upstream_via: form.via || null,
    auth: form.allowLan ? { username: form.authUser, password: form.authPass, exempt_loopback: true } : null,
    system_proxy: { ...settings.system_proxy, mode: form.sysproxy, bypass: form.bypass, guard: form.guard },
    app: {
      ...settings.app,
      start_at_login: form.startAtLogin,
      enable_on_launch: form.enableOnLaunch,
      notify_upstream_down: form.notifyDown,
      probe_target: form.probeTarget,
      language: form.language,
    },
  };
}

function fillForm(s) {
  const up = parseUpstream(s.upstream);
  $("upstream-type").value = up.type;
  $("upstream-host").value = up.host;
  $("upstream-port").value = up.port;
  $("upstream-username").value = up.username;
  $("upstream-password").value = up.password;
  $("upstream-remote-dns").checked = up.remoteDns;
  $("upstream-via").value = s.upstream_via ?? "";
  $("probe-target").value = s.app.probe_target;
  const [host, port] = splitListen(s.listen);
  $("listen-host").value = host;
  $("listen-port").value = port;
  $("allow-lan").checked = Boolean(s.auth);
  $("auth-username").value = s.auth?.username ?? "";
  $("auth-password").value = s.auth?.password ?? "";
  for (const radio of document.querySelectorAll("input[name=sysproxy]")) radio.checked = radio.value === s.system_proxy.mode;
  $("bypass").value = s.system_proxy.bypass.join("\n");
  $("guard").checked = s.system_proxy.guard;
  $("start-at-login").checked = s.app.start_at_login;
  $("enable-on-launch").checked = s.app.enable_on_launch;
  $("notify-down").checked = s.app.notify_upstream_down;
  $("language").value = s.app.language ?? "auto";
  syncDisabled();
}

function syncDisabled() {
  const direct = $("upstream-type").value === "direct";
  for (const id of ["upstream-host", "upstream-port", "upstream-username", "upstream-password", "upstream-remote-dns", "upstream-via", "reveal"]) {
    $(id).disabled = direct;
  }
  const type = $("upstream-type").value;
  $("upstream-remote-dns").disabled = direct || type === "socks4" || type === "http";
  const lan = $("allow-lan").checked;
  $("auth-username").disabled = !lan;
  $("auth-password").disabled = !lan;
}

function showErrors(errors) {
  for (const el of document.querySelectorAll(".error")) el.textContent = "";
  for (const el of document.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  for (const [field, message] of Object.entries(errors)) {
    const target = $(`err-${field}`) ?? $("err-form");
    target.textContent = target.textContent ? `${target.textContent} ${message}` : message;
    $(field)?.setAttribute("aria-invalid", "true");
  }
}

function renderStatus(state) {
  const view = statusView(state);
  $("enabled").checked = view.running;
  $("headline").textContent = view.headline;
  $("scope").textContent = view.scope;
  $("enabled").setAttribute("aria-label", view.switchLabel);
  $("st-listen").textContent = view.listen;
  $("st-up").textContent = view.up;
  $("st-down").textContent = view.down;
  $("st-active").textContent = view.active;
  $("st-upstream").textContent = view.upstreamText;
  $("st-upstream").className = view.upstreamClass;
  $("st-system").textContent = view.systemProxy;
  const notice = $("notice");
  notice.hidden = !state.notice;
  notice.textContent = state.notice ?? "";
}

function coreErrors(error) {
  // Commands fail with { kind: "invalid", fields: [{field, message}] } or { kind, message }.
  if (error?.kind === "invalid") {
    const errors = {};
    for (const f of error.fields) {
      const key = formFieldFor(f.field);
      errors[key] = errors[key] ? `${errors[key]} ${f.message}` : `${f.message}`;
    }
    return errors;
  }
  return { form: error?.message ?? String(error) };
}

async function refreshLogs() {
  const lines = await invoke("get_logs");
  const pre = $("logs");
  const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
  pre.textContent = filterLogs(lines, logLevel).map((l) => `${l.time} ${l.level.padEnd(5)} ${l.message}`).join("\n");
  if (atBottom) pre.scrollTop = pre.scrollHeight;
}

async function init() {
  const state = await invoke("get_state");
  settings = state.settings;
  await applyLanguage(settings.app.language);
  fillForm(settings);
  renderStatus(state);

  $("enabled").addEventListener("change", async (event) => {
    const on = event.target.checked;
    try {
      renderStatus(await invoke("set_enabled", { on }));
      showErrors({});
    } catch (e) {
      event.target.checked = !on;
      showErrors(coreErrors(e));
    }
  });
  $("upstream-type").addEventListener("change", syncDisabled);
  $("allow-lan").addEventListener("change", () => {
    if ($("allow-lan").checked && $("listen-host").value === "127.0.0.1") $("listen-host").value = "0.0.0.0";
    if (!$("allow-lan").checked && $("listen-host").value === "0.0.0.0") $("listen-host").value = "127.0.0.1";
    syncDisabled();
  });
  $("reveal").addEventListener("click", () => {
    const input = $("upstream-password");
    const show = input.type === "password";
    input.type = show ? "text" : "password";
    $("reveal").textContent = t(show ? "upstream.hide" : "upstream.show");
    $("reveal").setAttribute("aria-pressed", String(show));
  });
  $("bypass-defaults").addEventListener("click", () => {
    $("bypass").value = DEFAULT_BYPASS.join("\n");
  });
  $("settings").addEventListener("input", () => showErrors(validateForm(readForm())));
  $("test").addEventListener("click", async () => {
    const form = readForm();
    $("test-result").textContent = t("upstream.testing");
    try {
      const latency = await invoke("test_upstream", { upstream: buildUpstream(form.upstream), via: form.via || null, target: form.probeTarget });
      $("test-result").textContent = testResultText({ ok: true, latency_ms: latency });
    } catch (e) {
      $("test-result").textContent = testResultText({ ok: false, error: e?.message ?? String(e) });
    }
  });
  $("settings").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = readForm();
    const local = validateForm(form);
    showErrors(local);
    if (Object.keys(local).length) return;
    try {
      const next = await invoke("save_settings", { settings: toSettings(form) });
      settings = next.settings;
      await applyLanguage(settings.app.language);
      renderStatus(next);
      $("saved").textContent = t("form.saved");
      setTimeout(() => ($("saved").textContent = ""), 2000);
    } catch (e) {
      showErrors(coreErrors(e));
    }
  });
  $("log-level").addEventListener("change", (e) => {
    logLevel = e.target.value;
    refreshLogs();
  });

  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !event.defaultPrevented) invoke("close_window");
  });

  // The app announces every change (and, while on, the speed each second) as a `view`.
  await window.__TAURI__.event.listen("view", (event) => renderStatus(event.payload));
  setInterval(refreshLogs, 2000);
  refreshLogs();
  document.body.dataset.ready = "true";
}

init().catch((e) => showErrors({ form: e?.message ?? String(e) }));
