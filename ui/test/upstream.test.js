import { test } from "node:test";
import assert from "node:assert/strict";
import { buildUpstream, parseUpstream } from "../lib/upstream.js";

test("parse and build round-trip", () => {
  const urls = [
    "socks5h://127.0.0.1:1080",
    "socks5://10.0.0.2:9050",
    "socks5h://alice:p%40ss%3Aword@proxy.example:1080",
    "socks4a://bob@10.0.0.1:1081",
    "socks4://10.0.0.1:1081",
    "socks5h://[::1]:1080",
    "http://office.example:3128",
    "http://alice:s%3Acret@office.example:3128",
    "https://secure.example:443",
    "https://alice:s%3Acret@secure.example:8443",
    "direct://",
  ];
  for (const url of urls) assert.equal(buildUpstream(parseUpstream(url)), url, url);
});

test("fields", () => {
  assert.deepEqual(parseUpstream("socks5h://alice:p%40ss@h:2"), {
    type: "socks5", host: "h", port: "2", username: "alice", password: "p@ss", remoteDns: true,
  });
  assert.equal(parseUpstream("socks5://h:1").remoteDns, false);
  assert.equal(parseUpstream("garbage").type, "socks5");
  assert.equal(buildUpstream({ type: "socks5", host: "::1", port: "1", username: "", password: "", remoteDns: true }), "socks5h://[::1]:1");
  // SOCKS4 has no password: it is never put in the URL.
  assert.equal(buildUpstream({ type: "socks4a", host: "h", port: "1", username: "u", password: "x", remoteDns: true }), "socks4a://u@h:1");
  // An HTTP proxy's password is kept; remote DNS does not apply (the proxy always resolves).
  assert.equal(buildUpstream({ type: "http", host: "h", port: "8080", username: "u", password: "p", remoteDns: false }), "http://u:p@h:8080");
  assert.equal(parseUpstream("http://h:8080").type, "http");
});
