// Turning the app state (from the get_state command) into the strings the window shows.
// Pure functions, so the rules are unit-tested without a browser.

import { formatCount, formatLatency, formatSpeed } from "./format.js";
import { say, t } from "./i18n.js";

export function statusView(state) {
  const status = state?.status ?? {};
  const health = state?.health ?? { state: "unknown" };
  const running = Boolean(status.running);
  let upstreamText = t("status.not_checked");
  let upstreamClass = "unknown";
  if (status.direct) {
    upstreamText = t("status.direct");
    upstreamClass = "ok";
  } else if (health.state === "ok") {
    upstreamText = t("status.reachable", { latency: formatLatency(health.latency_ms) });
    upstreamClass = "ok";
  } else if (health.state === "down") {
    upstreamText = t("status.unreachable", { error: say(health.message, health.error ?? t("status.no_answer")) });
    upstreamClass = "down";
  }
  const mode = state?.settings?.system_proxy?.mode ?? "off";
  const scope = t({ global: "scope.global", pac: "scope.pac" }[mode] ?? "scope.local");
  return {
    running,
    headline: running ? t("status.on") : t("status.off"),
    // What one flip of the switch does, as the tray's toggle says it.
    scope,
    switchLabel: t("status.enable", { scope }),
    listen: running && status.listen ? status.listen : "–",
    up: running ? formatSpeed(state?.speed?.up_bps ?? 0) : "–",
    down: running ? formatSpeed(state?.speed?.down_bps ?? 0) : "–",
    active: running ? formatCount(status.stats?.active_connections ?? 0) : "–",
    upstreamText,
    upstreamClass,
    systemProxy: t({ global: "status.system_global", pac: "status.system_pac" }[status.system_proxy] ?? "status.system_off"),
  };
}

/** The Test button's outcome as one line. */
export function testResultText(result) {
  if (!result) return "";
  if (result.ok) return t("test.ok", { latency: formatLatency(result.latency_ms) });
  return t("test.failed", { error: result.error });
}

/** Log lines at or above a level. */
export function filterLogs(lines, minLevel) {
  const order = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"];
  const min = order.indexOf(String(minLevel).toUpperCase());
  return lines.filter((l) => order.indexOf(l.level) >= (min < 0 ? 0 : min));
}
