// The settings window: loads the app state, keeps the status fresh, edits the settings.
import { buildUpstream, parseUpstream } from "./lib/upstream.js";
import {
  addServer, checkText, udpReason, duplicateServer, idOf, keepChosen, moveServer, plain, removeServer, serverErrors, withIds,
} from "./lib/servers.js";
import { formFieldFor, validateForm } from "./lib/validate.js";
import { filterLogs, statusView, testResultText } from "./lib/render.js";
import { pickLanguage, say, t, translateDom, useCatalogue } from "./lib/i18n.js";
import { connectionRows, connectionSummary, failureLines } from "./lib/connections.js";

const invoke = (cmd, args) => window.__TAURI__.core.invoke(cmd, args);
const $ = (id) => document.getElementById(id);

const DEFAULT_BYPASS = [
  "localhost", "127.0.0.0/8", "::1", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "*.local",
];

let settings = null; // the saved settings (core schema)
let logLevel = "INFO";
let language = null;
// The server list being edited (saved with the rest of the form), the row being edited,
// the chosen server's id, whether the list has unsaved edits, and the last status the app
// sent (for each server's check).
let servers = [];
let selected = 0;
let chosen = 0;
let serversEdited = false;
let lastState = null;

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

/** The selected server's fields. */
function readServer() {
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
    name: $("server-name").value.trim(),
  };
}

/** The form's current values as a plain model. */
function readForm() {
  return {
    ...readServer(),
    probeTarget: $("probe-target").value.trim(),
    failoverEnabled: $("failover-enabled").checked,
    failoverBack: $("failover-back").checked,
    failures: $("failover-failures").value.trim(),
    interval: $("failover-interval").value.trim(),
    listenHost: $("listen-host").value.trim(),
    listenPort: $("listen-port").value.trim(),
    udp: $("udp").checked,
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
    udp: form.udp,
    servers: plain(servers),
    active: servers.find((s) => s.id === keepChosen(servers, chosen))?.name ?? "",
    failover: {
      ...settings.failover,
      enabled: form.failoverEnabled,
      switch_back: form.failoverBack,
      failures: Number(form.failures),
      interval_secs: Number(form.interval),
    },
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

/** Shows server `i` in the edit fields. */
function loadServer(i) {
  selected = Math.max(0, Math.min(i, servers.length - 1));
  const server = servers[selected];
  const up = parseUpstream(server.url);
  $("server-name").value = server.name;
  $("upstream-type").value = up.type;
  $("upstream-host").value = up.host;
  $("upstream-port").value = up.port;
  $("upstream-username").value = up.username;
  $("upstream-password").value = up.password;
  $("upstream-remote-dns").checked = up.remoteDns;
  $("upstream-via").value = server.via ?? "";
  $("test-result").textContent = "";
  syncDisabled();
  renderServers();
}

/** The edit fields back into the selected server. */
function storeServer() {
  const form = readServer();
  const old = servers[selected];
  const name = form.name || old.name;
  const url = buildUpstream(form.upstream);
  const via = form.via || null;
  if (name === old.name && url === old.url && via === (old.via ?? null)) return;
  servers = servers.map((s, i) => (i === selected ? { ...s, name, url, via } : s));
  serversEdited = true;
  renderServers();
}

/** The list: a radio for the chosen server, the name, in use, and the last check. */
let renderedKey = "";
function renderServers() {
  const list = $("server-list");
  const statuses = lastState?.status?.servers ?? [];
  // The status arrives every second while on: redraw only what changed, so focus stays.
  const key = JSON.stringify([servers, selected, chosen, statuses, lastState?.status?.running, language]);
  if (key === renderedKey) return;
  renderedKey = key;
  const focused = document.activeElement?.closest?.("#server-list li");
  const focusIndex = focused ? [...list.children].indexOf(focused) : -1;
  const focusRadio = document.activeElement?.type === "radio";
  list.replaceChildren();
  servers.forEach((server, i) => {
    const status = statuses.find((s) => s.name === server.name);
    const li = document.createElement("li");
    li.className = i === selected ? "selected" : "";
    const radio = document.createElement("input");
    radio.type = "radio";
    radio.name = "active-server";
    radio.checked = server.id === keepChosen(servers, chosen);
    radio.setAttribute("aria-label", t("servers.choose", { name: server.name }));
    radio.addEventListener("change", () => {
      chosen = server.id;
      serversEdited = true;
      renderServers();
    });
    const row = document.createElement("button");
    row.type = "button";
    row.className = "server-row";
    row.dataset.index = String(i);
    row.setAttribute("aria-pressed", String(i === selected));
    const name = document.createElement("span");
    name.className = "server-name";
    name.textContent = server.name;
    row.append(name);
    if (status?.in_use && lastState?.status?.running) {
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = t("servers.in_use");
      row.append(badge);
    }
    const check = document.createElement("span");
    check.className = `server-check ${status?.last ? (status.last.ok ? "ok" : "down") : ""}`;
    check.textContent = checkText(status, t);
    check.title = udpReason(status, t);
    row.append(check);
    row.addEventListener("click", () => loadServer(i));
    li.append(radio, row);
    list.append(li);
  });
  if (focusIndex >= 0) list.children[focusIndex]?.querySelector(focusRadio ? "input" : "button")?.focus();
  $("server-remove").disabled = servers.length <= 1;
  $("server-up").disabled = selected === 0;
  $("server-down").disabled = selected >= servers.length - 1;
}

function fillForm(s) {
  servers = withIds(s.servers);
  chosen = idOf(servers, s.active);
  serversEdited = false;
  loadServer(Math.max(0, servers.findIndex((server) => server.id === chosen)));
  $("failover-enabled").checked = s.failover.enabled;
  $("failover-back").checked = s.failover.switch_back;
  $("failover-failures").value = String(s.failover.failures);
  $("failover-interval").value = String(s.failover.interval_secs);
  $("probe-target").value = s.app.probe_target;
  const [host, port] = splitListen(s.listen);
  $("listen-host").value = host;
  $("listen-port").value = port;
  $("udp").checked = s.udp;
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
  $("upstream-remote-dns").disabled = direct || type === "socks4" || type === "http" || type === "https";
  const lan = $("allow-lan").checked;
  $("auth-username").disabled = !lan;
  $("auth-password").disabled = !lan;
  $("failover-back").disabled = !$("failover-enabled").checked;
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
  lastState = state;
  // A server chosen in the tray while the list here has no unsaved edits: follow it, so a
  // later Save does not take the choice back.
  if (state.settings && settings && !serversEdited && state.settings.active !== settings.active) {
    settings = { ...settings, active: state.settings.active };
    chosen = idOf(servers, state.settings.active);
  }
  renderServers();
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
  notice.textContent = say(state.notice);
  $("no-tray").hidden = !state.tray_missing;
}

/** Closing the window: where there is no tray to come back to, ask first. */
function closeWindow() {
  if (lastState?.tray_missing) askClose();
  else invoke("close_window");
}

function askClose() {
  if (!$("ask-close").open) $("ask-close").showModal();
}

function coreErrors(error) {
  // Commands fail with { kind: "invalid", fields: [{field, message}] } or { kind, message }.
  if (error?.kind === "invalid") {
    const errors = {};
    const aboutServers = serverErrors(error.fields, servers);
    if (aboutServers) errors.servers = aboutServers;
    for (const f of error.fields.filter((f) => !/^(servers|active)\b/.test(f.field))) {
      const key = formFieldFor(f.field);
      const text = say(f, f.message);
      errors[key] = errors[key] ? `${errors[key]} ${text}` : text;
    }
    return errors;
  }
  return { form: say(error?.text, error?.message ?? String(error)) };
}

/** The Connections view, redrawn from the core's list each second. */
async function refreshConnections() {
  const view = await invoke("get_connections");
  const running = Boolean(lastState?.status?.running);
  $("conn-summary").textContent = connectionSummary(view, t, running);
  const rows = connectionRows(view, t).map((cells) => {
    const tr = document.createElement("tr");
    cells.forEach((text, i) => {
      const td = document.createElement("td");
      td.textContent = text;
      if (i === 1) {
        td.className = "target";
        td.title = text;
      }
      if (i >= 3) td.className = "num";
      tr.append(td);
    });
    return tr;
  });
  $("conn-rows").replaceChildren(...rows);
  const failures = failureLines(view).map((line) => {
    const li = document.createElement("li");
    li.textContent = line;
    return li;
  });
  if (!failures.length) {
    const li = document.createElement("li");
    li.textContent = t("conn.no_failures");
    failures.push(li);
  }
  $("conn-failures").replaceChildren(...failures);
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
  $("failover-enabled").addEventListener("change", syncDisabled);
  for (const id of ["server-name", "upstream-type", "upstream-host", "upstream-port", "upstream-username", "upstream-password", "upstream-remote-dns", "upstream-via"]) {
    $(id).addEventListener("input", storeServer);
    $(id).addEventListener("change", storeServer);
  }
  const edit = (op) => {
    const [next, index] = op();
    servers = next;
    chosen = keepChosen(servers, chosen);
    serversEdited = true;
    loadServer(index);
    showErrors(validateForm(readForm()));
  };
  $("server-add").addEventListener("click", () => {
    edit(() => addServer(servers));
    $("server-name").focus();
  });
  $("server-duplicate").addEventListener("click", () => edit(() => duplicateServer(servers, selected)));
  $("server-remove").addEventListener("click", () => edit(() => removeServer(servers, selected)));
  $("server-up").addEventListener("click", () => edit(() => moveServer(servers, selected, -1)));
  $("server-down").addEventListener("click", () => edit(() => moveServer(servers, selected, 1)));
  const imported = (result) => {
    if (result.servers.length) edit(() => [[...servers, ...withIds(result.servers)], servers.length]);
    const lines = [t("links.added", { count: String(result.servers.length) })];
    if (result.duplicates) lines.push(t("links.duplicates", { count: String(result.duplicates) }));
    for (const e of result.errors) lines.push(`${e.link}: ${say(e.text, e.message)}`);
    $("links-result").textContent = lines.join(" ");
  };
  $("import-text").addEventListener("click", async () => {
    imported(await invoke("import_servers", { text: $("links").value, servers: plain(servers) }));
  });
  $("import-clipboard").addEventListener("click", async () => {
    try {
      imported(await invoke("import_clipboard", { servers: plain(servers) }));
    } catch (e) {
      $("links-result").textContent = e?.message ?? String(e);
    }
  });
  $("export").addEventListener("click", async () => {
    try {
      const withPasswords = $("export-passwords").checked;
      $("links").value = await invoke("export_servers", { servers: plain(servers), withPasswords });
      $("links-result").textContent = t("links.copied");
    } catch (e) {
      $("links-result").textContent = e?.message ?? String(e);
    }
  });
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
      const error = say(e?.text, e?.message ?? e?.fields?.map((f) => say(f, f.message)).join(" ") ?? String(e));
      $("test-result").textContent = testResultText({ ok: false, error });
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
      serversEdited = false;
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
    // Escape in the open dialog only closes the dialog; the Escape that opens it must not
    // go on to close it again.
    if (event.key === "Escape" && !event.defaultPrevented && !$("ask-close").open) {
      event.preventDefault();
      closeWindow();
    }
  });
  $("ask-keep").addEventListener("click", () => invoke("close_window"));
  $("ask-quit").addEventListener("click", () => invoke("quit"));
  // The window manager's close button, where there is no tray: the app asks the page.
  await window.__TAURI__.event.listen("ask-close", askClose);

  // The app announces every change (and, while on, the speed each second) as a `view`.
  await window.__TAURI__.event.listen("view", (event) => renderStatus(event.payload));
  setInterval(refreshLogs, 2000);
  refreshLogs();
  setInterval(() => {
    if (document.visibilityState === "visible") refreshConnections();
  }, 1000);
  refreshConnections();
  document.body.dataset.ready = "true";
}

init().catch((e) => showErrors({ form: e?.message ?? String(e) }));
