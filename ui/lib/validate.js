// Inline validation while typing. The core validates again on save and its field-level
// errors are shown the same way; these checks only catch the obvious early.

import { t } from "./i18n.js";

const HOST = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function isIPv4(s) {
  return IPV4.test(s);
}

export function isIPv6(s) {
  const bare = s.replace(/^\[|\]$/g, "");
  return bare.includes(":") && /^[0-9A-Fa-f:.]+$/.test(bare) && (bare.match(/::/g) ?? []).length <= 1;
}

/** Returns an error message, or "" when the value is fine. */
export function checkHost(value, { required = true } = {}) {
  const v = String(value ?? "").trim();
  if (!v) return required ? t("error.host_required") : "";
  if (isIPv4(v) || isIPv6(v) || HOST.test(v)) return "";
  return t("error.host_invalid", { value: v });
}

export function checkPort(value) {
  const v = String(value ?? "").trim();
  if (!/^\d{1,5}$/.test(v)) return t("error.port");
  const n = Number(v);
  return n >= 1 && n <= 65535 ? "" : t("error.port");
}

export function checkListenHost(value) {
  const v = String(value ?? "").trim();
  if (isIPv4(v) || isIPv6(v)) return "";
  return t("error.listen_ip");
}

/** One bypass entry: host, *.suffix, IP or CIDR. */
export function checkBypassEntry(entry) {
  const v = entry.trim();
  if (!v || v.toLowerCase() === "<local>") return "";
  if (v.includes("/")) {
    const [ip, bits] = v.split("/");
    const max = isIPv4(ip) ? 32 : isIPv6(ip) ? 128 : -1;
    return max > 0 && /^\d+$/.test(bits) && Number(bits) <= max ? "" : t("error.cidr", { value: v });
  }
  const host = v.startsWith("*.") ? v.slice(2) : v.startsWith(".") ? v.slice(1) : v;
  return checkHost(host) === "" ? "" : t("error.bypass", { value: v });
}

/** The HTTP(S) proxy a server is reached through: http(s)://[user[:pass]@]host:port. */
export function checkVia(value, type) {
  if (type === "direct") return t("error.via_direct");
  const m = /^https?:\/\/(?:[^@/]*@)?(\[[^\]]+\]|[^:/@]+):(\d+)\/?$/i.exec(String(value).trim());
  if (!m) return t("error.via_format");
  return checkHost(m[1]) || checkPort(m[2]);
}

/** A whole number from `min` to `max`. */
export function checkRange(value, min, max) {
  const v = String(value ?? "").trim();
  const n = Number(v);
  return /^\d+$/.test(v) && n >= min && n <= max ? "" : t("error.range", { min: String(min), max: String(max) });
}

/** Validates the whole form model; returns { fieldName: message } for bad fields. */
export function validateForm(form) {
  const errors = {};
  const add = (field, message) => {
    if (message) errors[field] = message;
  };
  if (form.upstream.type !== "direct") {
    add("upstream-host", checkHost(form.upstream.host));
    add("upstream-port", checkPort(form.upstream.port));
    if (form.upstream.type === "socks5" && form.upstream.username && !form.upstream.password) {
      add("upstream-password", t("error.socks5_password"));
    }
  }
  if (form.via) add("upstream-via", checkVia(form.via, form.upstream.type));
  if (form.name !== undefined && !form.name) add("server-name", t("error.server_name"));
  if (form.failures !== undefined) add("failover-failures", checkRange(form.failures, 1, 100));
  if (form.interval !== undefined) add("failover-interval", checkRange(form.interval, 1, 3600));
  add("listen-host", checkListenHost(form.listenHost));
  add("listen-port", checkPort(form.listenPort));
  if (form.allowLan) {
    if (!form.authUser) add("auth-username", t("error.lan_user"));
    else if (form.authUser.includes(":")) add("auth-username", t("error.lan_user_colon"));
    if (!form.authPass) add("auth-password", t("error.lan_password"));
  }
  const bad = form.bypass.map(checkBypassEntry).find((m) => m);
  add("bypass", bad ?? "");
  return errors;
}

/** Maps a core field path (e.g. "system_proxy.bypass[2]") to the form field showing it. */
export function formFieldFor(corePath) {
  if (corePath.startsWith("system_proxy.bypass")) return "bypass";
  const map = {
    listen: "listen-port",
    "auth.username": "auth-username",
    "auth.password": "auth-password",
    "app.probe_target": "probe-target",
    "failover.failures": "failover-failures",
    "failover.interval_secs": "failover-interval",
  };
  return map[corePath] ?? "form";
}
