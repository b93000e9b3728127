import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { LANGUAGES, pickLanguage, say, t, useCatalogue } from "../lib/i18n.js";
import { statusView } from "../lib/render.js";
import { checkPort } from "../lib/validate.js";

const read = (path) => readFileSync(new URL(path, import.meta.url), "utf8");
const catalogue = (lang) => JSON.parse(read(`../i18n/${lang}.json`));
const english = catalogue("en");
const placeholders = (text) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

test("every language has every key, with the same placeholders", () => {
  for (const lang of LANGUAGES) {
    const words = catalogue(lang);
    assert.deepEqual(Object.keys(words).sort(), Object.keys(english).sort(), lang);
    for (const [key, text] of Object.entries(words)) {
      assert.ok(text.trim(), `${lang}: ${key} is empty`);
      assert.deepEqual(placeholders(text), placeholders(english[key]), `${lang}: ${key}`);
    }
  }
});

test("every key the window uses is in the catalogue", () => {
  const html = read("../index.html");
  const used = [...html.matchAll(/data-i18n(?:-placeholder|-aria-label)?="([^"]+)"/g)].map((m) => m[1]);
  const scripts = ["../main.js", ...readdirSync(new URL("../lib/", import.meta.url)).map((f) => `../lib/${f}`)];
  for (const file of scripts) {
    for (const m of read(file).matchAll(/\bt\(\s*"([^"]+)"/g)) used.push(m[1]);
    // Keys picked from a table: t({ a: "x.y", … }[k] ?? "x.z").
    for (const m of read(file).matchAll(/"((?:status|scope|upstream|test|error|form|general)\.[a-z_]+)"/g)) used.push(m[1]);
  }
  assert.ok(used.length > 60, `only ${used.length} keys found`);
  for (const key of used) assert.ok(key in english, `${key} is not in the catalogue`);
});

test("no text in the window is outside the catalogue", () => {
  const html = read("../index.html").replace(/<script[\s\S]*?<\/script>/g, "");
  // Names that are the same in every language.
  const proper = new Set(["SocksBridge", "English", "简体中文", "Русский"]);
  for (const m of html.matchAll(/<([a-z0-9]+)([^>]*)>([^<]*\p{L}[^<]*)</gu)) {
    const [, tag, attributes, text] = m;
    if (proper.has(text.trim())) continue;
    assert.match(attributes, /data-i18n="/, `<${tag}${attributes}> has untranslated text "${text.trim()}"`);
  }
  for (const m of html.matchAll(/(placeholder|aria-label)="[^"]*\p{L}[^"]*"/gu)) {
    const element = html.slice(html.lastIndexOf("<", m.index), html.indexOf(">", m.index));
    assert.match(element, new RegExp(`data-i18n-${m[1]}=`), `${m[0]} is not translated`);
  }
});

test("the OS language is followed unless the settings choose one", () => {
  assert.equal(pickLanguage("auto", ["zh-CN", "en"]), "zh-CN");
  assert.equal(pickLanguage("auto", ["ru-RU"]), "ru");
  assert.equal(pickLanguage("auto", ["de-DE", "en-GB"]), "en");
  assert.equal(pickLanguage("auto", ["de-DE"]), "en");
  assert.equal(pickLanguage("ru", ["zh-CN"]), "ru");
  assert.equal(pickLanguage("xx", []), "en");
});

test("strings built in code come out in the chosen language", () => {
  useCatalogue(catalogue("ru"), english);
  assert.equal(statusView({ status: { running: true } }).headline, "Прокси включён");
  assert.equal(checkPort("0"), "Введите номер порта от 1 до 65535.");
  const refused = { key: "core.err_upstream_auth", args: { server: "SOCKS server h:1" } };
  assert.equal(say(refused), "SOCKS server h:1 отклонил наши учётные данные");
  assert.equal(say(null, "as sent"), "as sent");
  useCatalogue(catalogue("zh-CN"), english);
  assert.equal(t("status.reachable", { latency: "23 ms" }), "可达 · 23 ms");
  assert.equal(say({ key: "core.range", args: { min: "1", max: "9" } }), "须在 1 到 9 之间");
  useCatalogue(english);
});
