import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { useCatalogue } from "../lib/i18n.js";
import {
  addServer, checkText, duplicateServer, idOf, keepChosen, moveServer, plain, removeServer, serverErrors, udpReason,
  uniqueName, withIds,
} from "../lib/servers.js";

const list = (...names) => withIds(names.map((name) => ({ name, url: `socks5h://${name.toLowerCase()}:1080` })));
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
  const one = list("A");
  assert.deepEqual(removeServer(one, 0)[0], one, "the last server stays");
  assert.deepEqual(moveServer(list("A", "B", "C"), 2, -1).map((x) => (Array.isArray(x) ? names(x) : x)), [["A", "C", "B"], 1]);
  assert.deepEqual(names(moveServer(list("A", "B"), 0, -1)[0]), ["A", "B"], "top stays top");
  assert.deepEqual(names(moveServer(list("A", "B"), 1, 1)[0]), ["A", "B"], "bottom stays bottom");
});

test("the chosen server is held by id: renames and moves keep it, removal falls back", () => {
  const servers = list("A", "B", "C");
  const b = idOf(servers, "B");
  const renamed = servers.map((s) => (s.id === b ? { ...s, name: "A2" } : s));
  assert.equal(keepChosen(renamed, b), b, "a rename keeps the choice");
  // Another row typed into the chosen one's old name does not take the choice.
  const typed = renamed.map((s) => (s.name === "C" ? { ...s, name: "B" } : s));
  assert.equal(keepChosen(typed, b), b);
  assert.equal(keepChosen(moveServer(servers, 1, -1)[0], b), b);
  assert.equal(keepChosen(removeServer(servers, 1)[0], b), servers[0].id);
  assert.equal(idOf(servers, "nope"), servers[0].id);
  assert.equal(keepChosen([], b), 0);
  assert.notEqual(duplicateServer(servers, 0)[0][1].id, servers[0].id, "a copy is another server");
  assert.deepEqual(plain(servers)[0], { name: "A", url: "socks5h://a:1080", via: null });
});

test("check text and server errors", () => {
  const t = (key, vars = {}) => `${key}${JSON.stringify(vars)}`;
  assert.equal(checkText({ direct: true }, t), "servers.direct{}");
  assert.equal(checkText({ last: null }, t), "servers.not_checked{}");
  assert.equal(checkText({ last: { ok: true, latency_ms: 3.21 } }, t), 'servers.ok{"latency":"3.2 ms"}');
  assert.equal(checkText({ last: { ok: false, error: "refused" } }, t), 'servers.down{"error":"refused"}');
  const udp = (ok, message = null) => ({ last: { ok: true, latency_ms: 3.21, udp: { ok, message } } });
  assert.equal(checkText(udp(true), t), 'servers.ok{"latency":"3.2 ms"} · tray.udp_yes{}');
  assert.equal(checkText(udp(false), t), 'servers.ok{"latency":"3.2 ms"} · tray.udp_no{}');
  assert.equal(udpReason(udp(true), t), "");
  assert.equal(udpReason({ last: { ok: true, latency_ms: 1 } }, t), "");
  assert.equal(udpReason(udp(false), t), "tray.udp_no{}");
  const refused = { key: "core.err_udp_refused", args: { server: "SOCKS server a:1", reason: "SOCKS4 has no UDP" } };
  useCatalogue(JSON.parse(readFileSync(new URL("../i18n/en.json", import.meta.url), "utf8")));
  assert.equal(udpReason(udp(false, refused), t), "SOCKS server a:1 cannot carry UDP: SOCKS4 has no UDP");
  useCatalogue({});
  const errors = serverErrors(
    [{ field: "servers[1].url", message: "bad port" }, { field: "listen", message: "x" }, { field: "active", message: "gone" }],
    list("A", "B"),
  );
  assert.equal(errors, "B: bad port gone");
});
