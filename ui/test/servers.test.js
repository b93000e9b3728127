import { test } from "node:test";
import assert from "node:assert/strict";
import {
  addServer, checkText, duplicateServer, keepActive, moveServer, removeServer, serverErrors, uniqueName,
} from "../lib/servers.js";

const list = (...names) => names.map((name) => ({ name, url: `socks5h://${name.toLowerCase()}:1080`, via: null }));
const names = (servers) => servers.map((s) => s.name);

test("unique names ignore case and count up", () => {
  assert.equal(uniqueName(list("A"), "B"), "B");
  assert.equal(uniqueName(list("A"), "a"), "a (2)");
  assert.equal(uniqueName(list("A", "A (2)"), "A"), "A (3)");
});

test("add, duplicate, remove and move keep the order and the selection", () => {
  const [added, i] = addServer(list("A"));
  assert.deepEqual([names(added), i], [["A", "New server"], 1]);
  assert.equal(addServer(added)[0][2].name, "New server (2)");
  const [dup, j] = duplicateServer(list("A", "B"), 0);
  assert.deepEqual([names(dup), j], [["A", "A (2)", "B"], 1]);
  assert.equal(dup[1].url, dup[0].url);
  assert.deepEqual(names(removeServer(list("A", "B", "C"), 2)[0]), ["A", "B"]);
  assert.equal(removeServer(list("A", "B", "C"), 2)[1], 1);
  assert.deepEqual(removeServer(list("A"), 0)[0], list("A"), "the last server stays");
  assert.deepEqual(moveServer(list("A", "B", "C"), 2, -1).map((x) => (Array.isArray(x) ? names(x) : x)), [["A", "C", "B"], 1]);
  assert.deepEqual(names(moveServer(list("A", "B"), 0, -1)[0]), ["A", "B"], "top stays top");
  assert.deepEqual(names(moveServer(list("A", "B"), 1, 1)[0]), ["A", "B"], "bottom stays bottom");
});

test("the chosen server survives edits or falls back to the first", () => {
  assert.equal(keepActive(list("A", "B"), "B"), "B");
  assert.equal(keepActive(list("A", "C"), "B"), "A");
  assert.equal(keepActive([], "B"), "");
});

test("check text and server errors", () => {
  const t = (key, vars = {}) => `${key}${JSON.stringify(vars)}`;
  assert.equal(checkText({ direct: true }, t), "servers.direct{}");
  assert.equal(checkText({ last: null }, t), "servers.not_checked{}");
  assert.equal(checkText({ last: { ok: true, latency_ms: 3.21 } }, t), 'servers.ok{"latency":"3.2 ms"}');
  assert.equal(checkText({ last: { ok: false, error: "refused" } }, t), 'servers.down{"error":"refused"}');
  const errors = serverErrors(
    [{ field: "servers[1].url", message: "bad port" }, { field: "listen", message: "x" }, { field: "active", message: "gone" }],
    list("A", "B"),
  );
  assert.equal(errors, "B: bad port gone");
});
