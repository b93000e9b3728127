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
      { client: "127.0.0.1:6", target: "printer.lan:80", via: null, up: 0, down: 0, age_ms: 0 },
    ],
    failures: [{ at_ms: 0, what: "CONNECT x:443", error: "refused" }],
  };
  assert.deepEqual(connectionRows(view, t), [
    ["127.0.0.1:5", "example.com:443", "Home", "10 B", "2.0 KB", "3 s"],
    ["127.0.0.1:6", "printer.lan:80", "conn.direct", "0 B", "0 B", "0 s"],
  ]);
  assert.equal(connectionSummary(view, t, true), 'conn.some_listed{"open":"3","listed":"2"}');
  assert.equal(connectionSummary({ ...view, open: 2 }, t, true), 'conn.open{"open":"2"}');
  assert.equal(connectionSummary({ open: 0, connections: [] }, t, true), "conn.none");
  assert.equal(connectionSummary(view, t, false), "conn.off");
  assert.deepEqual(failureLines(view, () => "12:00:00"), ["12:00:00 CONNECT x:443: refused"]);
});
