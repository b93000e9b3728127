import { test } from "node:test";
import assert from "node:assert/strict";
import { formatCount, formatLatency, formatSpeed } from "../lib/format.js";

test("speeds", () => {
  const cases = [
    [0, "0 B/s"],
    [999, "999 B/s"],
    [1000, "1.0 KB/s"],
    [12_345, "12.3 KB/s"],
    [4_000_000, "4.0 MB/s"],
    [2.5e9, "2.5 GB/s"],
    [2.5e13, "25000.0 GB/s"],
    [-1, "–"],
    [NaN, "–"],
    ["abc", "–"],
  ];
  for (const [input, expected] of cases) assert.equal(formatSpeed(input), expected, String(input));
});

test("latency and counts", () => {
  assert.equal(formatLatency(23.4), "23 ms");
  assert.equal(formatLatency(0.42), "0.4 ms");
  assert.equal(formatLatency(1234), "1.2 s");
  assert.equal(formatLatency(null), "–");
  assert.equal(formatCount(12345), "12,345");
  assert.equal(formatCount(undefined), "0");
});
