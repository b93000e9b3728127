//! The tray's and the notifications' words, from the same catalogues as the window
//! (ui/i18n/*.json, compiled in): one language per setting, `auto` following the OS.

use std::collections::HashMap;
use std::sync::OnceLock;

use socksbridge::message::Message;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    English,
    SimplifiedChinese,
    Russian,
}

const CATALOGUES: [(Language, &str); 3] = [
    (Language::English, include_str!("../../ui/i18n/en.json")),
    (
        Language::SimplifiedChinese,
        include_str!("../../ui/i18n/zh-CN.json"),
    ),
    (Language::Russian, include_str!("../../ui/i18n/ru.json")),
];

impl Language {
    /// A core sentence ([`Message`]) in this language.
    pub fn message(self, message: &Message) -> String {
        let args: Vec<(&str, &str)> = message.args.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.t(message.key, &args)
    }

    /// The language for `app.language`: a code, or `auto` for the OS's own.
    pub fn resolve(setting: &str) -> Language {
        Language::from_tag(setting).unwrap_or_else(|| {
            sys_locale::get_locales()
                .find_map(|tag| Language::from_tag(&tag))
                .unwrap_or(Language::English)
        })
    }

    /// `zh-CN`, `zh_CN.UTF-8`, `ru-RU`, `en`…; `None` for anything else.
    fn from_tag(tag: &str) -> Option<Language> {
        let tag = tag.to_ascii_lowercase();
        if tag.starts_with("zh") {
            Some(Language::SimplifiedChinese)
        } else if tag.starts_with("ru") {
            Some(Language::Russian)
        } else if tag.starts_with("en") {
            Some(Language::English)
        } else {
            None
        }
    }

    fn catalogue(self) -> &'static HashMap<String, String> {
        static PARSED: OnceLock<HashMap<Language, HashMap<String, String>>> = OnceLock::new();
        let all = PARSED.get_or_init(|| {
            CATALOGUES
                .iter()
                .map(|(language, json)| {
                    let words = serde_json::from_str(json).unwrap_or_default();
                    (*language, words)
                })
                .collect()
        });
        &all[&self]
    }

    /// The text for `key` with `{name}` placeholders filled from `params`; English fills
    /// a gap, and the key itself shows a missing one (the catalogue test forbids both).
    pub fn t(self, key: &str, params: &[(&str, &str)]) -> String {
        let text = self
            .catalogue()
            .get(key)
            .or_else(|| Language::English.catalogue().get(key))
            .map_or(key, String::as_str);
        params.iter().fold(text.to_string(), |text, (name, value)| {
            text.replace(&format!("{{{name}}}"), value)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `.t("key"` in the app's Rust sources.
    fn keys_used() -> Vec<String> {
        let mut dirs = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
        let mut files = Vec::new();
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if !path.ends_with("i18n.rs") {
                    files.push(path); // (this file's own examples left out)
                }
            }
        }
        let mut keys = Vec::new();
        for path in files {
            let source = std::fs::read_to_string(path).unwrap();
            for (at, _) in source.match_indices(".t(\"") {
                let rest = &source[at + 4..];
                if let Some(end) = rest.find('"') {
                    keys.push(rest[..end].to_string());
                }
            }
        }
        keys
    }

    #[test]
    fn every_key_the_app_uses_is_in_every_language() {
        let keys = keys_used();
        assert!(keys.len() >= 12, "{keys:?}");
        for (language, _) in CATALOGUES {
            for key in &keys {
                let text = language.catalogue().get(key);
                assert!(
                    text.is_some_and(|t| !t.is_empty()),
                    "{key} missing in {language:?}"
                );
            }
        }
    }

    #[test]
    fn languages_follow_tags_and_fill_placeholders() {
        assert_eq!(
            Language::from_tag("zh_CN.UTF-8"),
            Some(Language::SimplifiedChinese)
        );
        assert_eq!(Language::from_tag("ru-RU"), Some(Language::Russian));
        assert_eq!(Language::from_tag("en-GB"), Some(Language::English));
        assert_eq!(Language::from_tag("de-DE"), None);
        assert_eq!(Language::resolve("ru"), Language::Russian);
        assert_eq!(
            Language::Russian.t("tray.via", &[("upstream", "socks5h://h:1")]),
            "через socks5h://h:1"
        );
        assert_eq!(Language::English.t("no.such.key", &[]), "no.such.key");
    }
}
