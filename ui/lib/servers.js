// The window's server list: pure operations on an array of { id, name, url, via } — the
// core's schema plus an id that stays with a server through renames and moves (the chosen
// server is held by it) and is stripped before anything goes to the core. Unit-tested
// without a browser. The list order is the failover order.

import { formatLatency } from "./format.js";
import { say } from "./i18n.js";

let lastId = 0;

/** The core's servers with ids. */
export function withIds(servers) {
  return servers.map((s) => ({ id: ++lastId, name: s.name, url: s.url, via: s.via ?? null }));
}

/** The servers as the core takes them. */
export function plain(servers) {
  return servers.map(({ name, url, via }) => ({ name, url, via: via || null }));
}

/** A name not yet in `servers` (ignoring case): `wanted`, or `wanted (2)`, `(3)`, … */
export function uniqueName(servers, wanted) {
  const taken = (name) => servers.some((s) => s.name.trim().toLowerCase() === name.toLowerCase());
  if (!taken(wanted)) return wanted;
  for (let n = 2; ; n += 1) {
    const name = `${wanted} (${n})`;
    if (!taken(name)) return name;
  }
}

/** A new server after the others; returns [list, index of the new one]. */
export function addServer(servers, url = "socks5h://127.0.0.1:1080") {
  const server = { id: ++lastId, name: uniqueName(servers, "New server"), url, via: null };
  return [[...servers, server], servers.length];
}

/** A copy of server `i` right after it. */
export function duplicateServer(servers, i) {
  const copy = { ...servers[i], id: ++lastId, name: uniqueName(servers, servers[i].name) };
  return [[...servers.slice(0, i + 1), copy, ...servers.slice(i + 1)], i + 1];
}

/** Removes server `i`; the last one cannot go (the core needs at least one). */
export function removeServer(servers, i) {
  if (servers.length <= 1) return [servers, i];
  const next = servers.filter((_, j) => j !== i);
  return [next, Math.min(i, next.length - 1)];
}

/** Moves server `i` by `delta` (-1 up, +1 down); returns [list, its new index]. */
export function moveServer(servers, i, delta) {
  const j = i + delta;
  if (j < 0 || j >= servers.length) return [servers, i];
  const next = [...servers];
  [next[i], next[j]] = [next[j], next[i]];
  return [next, j];
}

/** The chosen server's id after the list changed: kept if it is still there, else the first's. */
export function keepChosen(servers, id) {
  return servers.some((s) => s.id === id) ? id : servers[0]?.id ?? 0;
}

/** The id of the server named `name` (the core's `active`); the first's when there is none. */
export function idOf(servers, name) {
  return servers.find((s) => s.name === name)?.id ?? servers[0]?.id ?? 0;
}

/** The line a server's row shows after its name: its last check, from the view's status. */
export function checkText(status, t) {
  if (status?.direct) return t("servers.direct");
  const last = status?.last;
  if (!last) return t("servers.not_checked");
  if (!last.ok) return t("servers.down", { error: say(last.message, last.error ?? "") });
  const speed = t("servers.ok", { latency: formatLatency(last.latency_ms) });
  if (!last.udp) return speed;
  return `${speed} · ${t(last.udp.ok ? "tray.udp_yes" : "tray.udp_no")}`;
}

/** Why the last check found that a server cannot carry UDP ("" when it can, or unknown). */
export function udpReason(status, t) {
  const udp = status?.last?.ok ? status.last.udp : null;
  if (!udp || udp.ok) return "";
  return udp.message ? say(udp.message, "") : t("tray.udp_no");
}

/** Core field errors for servers[i].* as one line per server, naming it. */
export function serverErrors(fields, servers) {
  const lines = [];
  for (const f of fields) {
    const m = /^servers\[(\d+)\]\.(\w+)$/.exec(f.field);
    const text = say(f, f.message);
    if (m) lines.push(`${servers[Number(m[1])]?.name ?? `#${Number(m[1]) + 1}`}: ${text}`);
    else if (f.field === "servers" || f.field === "active") lines.push(text);
  }
  return lines.join(" ");
}
