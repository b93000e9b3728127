// The window's words, in the user's language: one JSON catalogue per language in
// ui/i18n/ (flat keys, {name} placeholders), shared with the tray. English fills any gap.

export const LANGUAGES = ["en", "zh-CN", "ru"];

let catalogue = {};
let english = {};

/** The language for a setting ("auto" or a code) and the OS's preferred tags, best first. */
export function pickLanguage(setting, preferred = []) {
  if (LANGUAGES.includes(setting)) return setting;
  for (const tag of preferred) {
    const lower = String(tag).toLowerCase();
    if (lower.startsWith("zh")) return "zh-CN";
    if (lower.startsWith("ru")) return "ru";
    if (lower.startsWith("en")) return "en";
  }
  return "en";
}

/** Makes `words` (and `fallback`, English) the catalogues `t` reads from. */
export function useCatalogue(words, fallback = words) {
  catalogue = words ?? {};
  english = fallback ?? {};
}

/** The text for `key`, with `{name}` placeholders filled from `params`. */
export function t(key, params = {}) {
  const text = catalogue[key] ?? english[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

/** A core sentence ({ key, args }) in the current language; `fallback` when there is none. */
export function say(message, fallback = "") {
  return message?.key ? t(message.key, message.args ?? {}) : fallback;
}

/** Every `data-i18n` (text), `data-i18n-placeholder` and `data-i18n-aria-label` under `root`. */
export function translateDom(root) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll("[data-i18n-aria-label]")) el.setAttribute("aria-label", t(el.dataset.i18nAriaLabel));
}
