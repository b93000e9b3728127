import { test } from "node:test";
import assert from "node:assert/strict";
import { connectionRows, connectionSummary, failureLines, formatAge, formatBytes } from "../lib/connections.js";

const t = (key, vars = {}) => `${key}${Object.keys(vars).length ? JSON.stringify(vars) : ""}`;

test("bytes and ages", () => {
  const bytes = [[0, "0 B"], [999, "999 B"], [1500, "1.5 KB"], [2_000_000, "2.0 MB"], [3e12, "3.0 TB"]];
  for (const [n, text] of bytes) assert.equal(formatBytes(n), text, String(n));
  const ages = [[0, "0 s"], [59_999, "59 s"], [65_000, "1 min 05 s"], [7_380_000, "2 h 03 min"]];
  for (const [ms, text] of ages) assert.equal(formatAge(ms), text, String(ms));
});

test("rows, summary and failures", () => {
  const view = {
    open: 3,
    connections: [
      { client: "127.0.0.1:5", target: "example.com:443", via: "Home", up: 10, down: 2000, age_ms: 3000 },
      { client: "127.0.0.1:6", process: { pid: 4242, name: "curl" }, target: "printer.lan:80", via: null, up: 0, down: 0, age_ms: 0 },
    ],
    failures: [{ at_ms: 0, what: "CONNECT x:443", error: "refused" }],
  };
  assert.deepEqual(connectionRows(view, t), [
    ["127.0.0.1:5", "example.com:443", "Home", "10 B", "2.0 KB", "3 s"],
    ["curl (4242) 127.0.0.1:6", "printer.lan:80", "conn.direct", "0 B", "0 B", "0 s"],
  ]);
  assert.equal(connectionSummary(view, t, true), 'conn.some_listed{"open":"3","listed":"2"}');
  assert.equal(connectionSummary({ ...view, open: 2 }, t, true), 'conn.open{"open":"2"}');
  assert.equal(connectionSummary({ open: 0, connections: [] }, t, true), "conn.none");
  assert.equal(connectionSummary(view, t, false), "conn.off");
  assert.deepEqual(failureLines(view, () => "12:00:00"), ["12:00:00 CONNECT x:443: refused"]);
});

test("a UDP association lists its targets and counts its datagrams", () => {
  const udp = (targets, more_targets = false) => ({
    client: "127.0.0.1:7", target: "UDP", via: "Home", up: 1500, down: 64, age_ms: 1000,
    udp: { datagrams_up: 1200, datagrams_down: 1, targets, more_targets },
  });
  const rows = connectionRows({ connections: [udp(["1.1.1.1:53", "a.example:443"]), udp([]), udp(["x:1"], true)] }, t);
  assert.deepEqual(rows[0], [
    "127.0.0.1:7", 'conn.udp_targets{"targets":"1.1.1.1:53, a.example:443"}', "Home",
    'conn.datagrams{"bytes":"1.5 KB","count":"1,200"}', 'conn.datagrams{"bytes":"64 B","count":"1"}', "1 s",
  ]);
  assert.equal(rows[1][1], "conn.udp_none");
  assert.equal(rows[2][1], 'conn.udp_targets{"targets":"x:1, …"}');
});
