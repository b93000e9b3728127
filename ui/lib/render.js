// Turning the app state (from the get_state command) into the strings the window shows.
// Pure functions, so the rules are unit-tested without a browser.

import { formatCount, formatLatency, formatSpeed } from "./format.js";

export function statusView(state) {
  const status = state?.status ?? {};
  const health = state?.health ?? { state: "unknown" };
  const running = Boolean(status.running);
  let upstreamText = "Not checked yet";
  let upstreamClass = "unknown";
  if (status.direct) {
    upstreamText = "Direct connections (no upstream)";
    upstreamClass = "ok";
  } else if (health.state === "ok") {
    upstreamText = `Reachable · ${formatLatency(health.latency_ms)}`;
    upstreamClass = "ok";
  } else if (health.state === "down") {
    upstreamText = `Unreachable: ${health.error ?? "no answer"}`;
    upstreamClass = "down";
  }
  const mode = state?.settings?.system_proxy?.mode ?? "off";
  const scope = { global: "system-wide", pac: "system-wide, PAC" }[mode] ?? "local port only";
  return {
    running,
    headline: running ? "Proxy on" : "Proxy off",
    // What one flip of the switch does, as the tray's toggle says it.
    scope,
    switchLabel: `Enable proxy (${scope})`,
    listen: running && status.listen ? status.listen : "–",
    up: running ? formatSpeed(state?.speed?.up_bps ?? 0) : "–",
    down: running ? formatSpeed(state?.speed?.down_bps ?? 0) : "–",
    active: running ? formatCount(status.stats?.active_connections ?? 0) : "–",
    upstreamText,
    upstreamClass,
    systemProxy: { off: "System proxy off", global: "System proxy: global", pac: "System proxy: PAC" }[status.system_proxy] ?? "System proxy off",
  };
}

/** The Test button's outcome as one line. */
export function testResultText(result) {
  if (!result) return "";
  if (result.ok) return `Reached the target through the upstream in ${formatLatency(result.latency_ms)}.`;
  return `Failed: ${result.error}`;
}

/** Log lines at or above a level. */
export function filterLogs(lines, minLevel) {
  const order = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"];
  const min = order.indexOf(String(minLevel).toUpperCase());
  return lines.filter((l) => order.indexOf(l.level) >= (min < 0 ? 0 : min));
}
