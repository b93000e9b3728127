import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { useCatalogue } from "../lib/i18n.js";

useCatalogue(JSON.parse(readFileSync(new URL("../i18n/en.json", import.meta.url), "utf8")));
import { checkBypassEntry, checkHost, checkPort, checkVia, formFieldFor, validateForm } from "../lib/validate.js";

test("hosts and ports", () => {
  for (const ok of ["127.0.0.1", "proxy.example", "::1", "[::1]", "under_score.lan"]) assert.equal(checkHost(ok), "", ok);
  for (const bad of ["", "bad host", "a..b", "-"]) assert.notEqual(checkHost(bad), "", bad);
  for (const ok of ["1", "1080", "65535"]) assert.equal(checkPort(ok), "", ok);
  for (const bad of ["", "0", "65536", "12a", "-1"]) assert.notEqual(checkPort(bad), "", bad);
});

test("bypass entries", () => {
  for (const ok of ["localhost", "*.local", ".corp", "10.0.0.0/8", "fd00::/8", "::1", "<local>"]) assert.equal(checkBypassEntry(ok), "", ok);
  for (const bad of ["10.0.0.0/33", "*.bad host", "foo/8"]) assert.notEqual(checkBypassEntry(bad), "", bad);
});

const form = (over = {}) => ({
  upstream: { type: "socks5", host: "127.0.0.1", port: "1080", username: "", password: "", remoteDns: true },
  listenHost: "127.0.0.1", listenPort: "1095", allowLan: false, authUser: "", authPass: "", bypass: ["localhost"],
  ...over,
});

test("whole form", () => {
  assert.deepEqual(validateForm(form()), {});
  assert.deepEqual(Object.keys(validateForm(form({ listenHost: "localhost", listenPort: "99999" }))), ["listen-host", "listen-port"]);
  assert.deepEqual(Object.keys(validateForm(form({ allowLan: true }))), ["auth-username", "auth-password"]);
  assert.deepEqual(Object.keys(validateForm(form({ upstream: { type: "socks5", host: "h", port: "1", username: "u", password: "" } }))), ["upstream-password"]);
  assert.deepEqual(validateForm(form({ upstream: { type: "direct", host: "", port: "" } })), {});
  assert.deepEqual(Object.keys(validateForm(form({ bypass: ["ok", "10.0.0.0/99"] }))), ["bypass"]);
});

test("the HTTP proxy an upstream is reached through", () => {
  for (const ok of ["http://office:3128", "HTTP://u:p@10.0.0.1:8080/", "http://[::1]:3128", "https://office:443"]) {
    assert.equal(checkVia(ok, "socks5"), "", ok);
  }
  for (const bad of ["office:3128", "socks5://h:1", "http://office", "http://office:99999", "http://bad host:1"]) {
    assert.notEqual(checkVia(bad, "socks5"), "", bad);
  }
  assert.notEqual(checkVia("http://office:3128", "direct"), "");
  assert.deepEqual(Object.keys(validateForm(form({ via: "office:3128" }))), ["upstream-via"]);
});

test("server name and failover numbers are checked while typing", () => {
  const bad = form({ name: "", failures: "0", interval: "3601" });
  assert.deepEqual(Object.keys(validateForm(bad)).sort(), ["failover-failures", "failover-interval", "server-name"]);
  assert.deepEqual(validateForm(form({ name: "A", failures: "3", interval: "30" })), {});
});

test("core field paths map to form fields", () => {
  assert.equal(formFieldFor("failover.interval_secs"), "failover-interval");
  assert.equal(formFieldFor("system_proxy.bypass[3]"), "bypass");
  assert.equal(formFieldFor("failover.failures"), "failover-failures");
  assert.equal(formFieldFor("auth.password"), "auth-password");
  assert.equal(formFieldFor("timeouts.idle_secs"), "form");
});
