import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { useCatalogue } from "../lib/i18n.js";

useCatalogue(JSON.parse(readFileSync(new URL("../i18n/en.json", import.meta.url), "utf8")));
import { filterLogs, statusView, testResultText } from "../lib/render.js";

test("status when off and on", () => {
  const off = statusView({ status: { running: false, upstream: "socks5h://127.0.0.1:1080", system_proxy: "off" }, health: { state: "unknown" } });
  assert.equal(off.switchLabel, "Enable proxy (local port only)");
  assert.equal(off.headline, "Proxy off");
  assert.equal(off.up, "–");
  assert.equal(off.upstreamText, "Not checked yet");
  const on = statusView({
    status: { running: true, listen: "127.0.0.1:1095", upstream: "socks5h://127.0.0.1:1080", system_proxy: "pac", stats: { active_connections: 3 } },
    speed: { up_bps: 1500, down_bps: 2_000_000 },
    health: { state: "ok", latency_ms: 23 },
  });
  assert.deepEqual(
    [on.headline, on.listen, on.up, on.down, on.active, on.upstreamText, on.upstreamClass, on.systemProxy],
    ["Proxy on", "127.0.0.1:1095", "1.5 KB/s", "2.0 MB/s", "3", "Reachable · 23 ms", "ok", "System proxy: PAC"],
  );
  const down = statusView({ status: { running: true, upstream: "socks5h://h:1" }, health: { state: "down", error: "SOCKS server h:1 is unreachable" } });
  assert.equal(down.upstreamText, "Unreachable: SOCKS server h:1 is unreachable");
  assert.equal(down.upstreamClass, "down");
});

test("the switch says what it does, and direct needs no check", () => {
  const global = statusView({ settings: { system_proxy: { mode: "global" } }, status: { running: false } });
  assert.deepEqual([global.scope, global.switchLabel], ["system-wide", "Enable proxy (system-wide)"]);
  const pac = statusView({ settings: { system_proxy: { mode: "pac" } }, status: { running: true } });
  assert.equal(pac.switchLabel, "Enable proxy (system-wide, PAC)");
  const direct = statusView({ status: { running: true, upstream: "direct://", direct: true }, health: { state: "unknown" } });
  assert.deepEqual([direct.upstreamText, direct.upstreamClass], ["Direct connections (no upstream)", "ok"]);
});

test("test results and logs", () => {
  assert.equal(testResultText({ ok: true, latency_ms: 12 }), "Reached the target through the upstream in 12 ms.");
  assert.equal(testResultText({ ok: false, error: "timed out" }), "Failed: timed out");
  const lines = [{ level: "DEBUG" }, { level: "INFO" }, { level: "WARN" }, { level: "ERROR" }];
  assert.deepEqual(filterLogs(lines, "WARN").map((l) => l.level), ["WARN", "ERROR"]);
  assert.equal(filterLogs(lines, "debug").length, 4);
});
