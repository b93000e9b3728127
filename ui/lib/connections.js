// The Connections view: the core's list (newest first, bounded) as table cells and
// failure lines. Pure, so the formatting is unit-tested without a browser.

import { formatCount } from "./format.js";
import { say } from "./i18n.js";

/** Bytes as "512 B", "1.5 KB", "2.0 MB". */
export function formatBytes(n) {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = Number(n ?? 0);
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** Milliseconds as "3 s", "4 min 05 s", "2 h 03 min". */
export function formatAge(ms) {
  const s = Math.floor(Number(ms ?? 0) / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

/** One row of cells per connection: client (the program behind it first, where the OS
 * tells), target, via, sent, received, age. A UDP association's target cell lists where it
 * sent, and its byte cells count datagrams. */
export function connectionRows(view, t) {
  return (view?.connections ?? []).map((c) => {
    const udp = c.udp;
    const sent = (bytes, count) => (udp ? t("conn.datagrams", { bytes: formatBytes(bytes), count: formatCount(count) }) : formatBytes(bytes));
    return [
      clientCell(c),
      udp ? udpTargets(udp, t) : c.target,
      c.via ?? t("conn.direct"),
      sent(c.up, udp?.datagrams_up),
      sent(c.down, udp?.datagrams_down),
      formatAge(c.age_ms),
    ];
  });
}

/** "firefox (4242) 127.0.0.1:50312", or the address alone. */
function clientCell(c) {
  return c.process ? `${c.process.name} (${c.process.pid}) ${c.client}` : c.client;
}

function udpTargets(udp, t) {
  if (udp.targets.length === 0) return t("conn.udp_none");
  const targets = udp.targets.join(", ") + (udp.more_targets ? ", …" : "");
  return t("conn.udp_targets", { targets });
}

/** The line above the table: how many are open, and how many of them are listed. */
export function connectionSummary(view, t, running) {
  if (!running) return t("conn.off");
  const open = view?.open ?? 0;
  const listed = view?.connections?.length ?? 0;
  if (open === 0) return t("conn.none");
  if (listed < open) return t("conn.some_listed", { open: formatCount(open), listed: formatCount(listed) });
  return t("conn.open", { open: formatCount(open) });
}

/** Failure lines: time, what was asked, and why it failed. */
export function failureLines(view, timeOf = (ms) => new Date(ms).toLocaleTimeString()) {
  return (view?.failures ?? []).map((f) => `${timeOf(f.at_ms)} ${f.what}: ${say(f.message, f.error)}`);
}
