//! Sentences for people, in any language: a catalogue key (`core.*` in `ui/i18n/*.json`,
//! the catalogues the window and the tray use) and its named arguments. The window and the
//! tray show a [`Message`] in the user's language; the core itself (logs, the CLI, the
//! `Display` of its errors) speaks English, rendered from the same English catalogue, so
//! there is one English text for each sentence.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::OnceLock;

use serde::Serialize;

/// A sentence: its catalogue key and arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    pub key: &'static str,
    pub args: BTreeMap<&'static str, String>,
}

impl Message {
    pub fn new<const N: usize>(key: &'static str, args: [(&'static str, String); N]) -> Message {
        Message {
            key,
            args: args.into_iter().collect(),
        }
    }

    /// The sentence in English.
    pub fn english(&self) -> String {
        match english().get(self.key) {
            Some(template) => render(template, &self.args),
            None => self.key.to_string(),
        }
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.english())
    }
}

/// `template` with each `{name}` replaced by its argument (unknown names stay as they are).
pub fn render(template: &str, args: &BTreeMap<&'static str, String>) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let name = &after[..close];
                match args.get(name) {
                    Some(value) => out.push_str(value),
                    None => {
                        out.push('{');
                        out.push_str(name);
                        out.push('}');
                    }
                }
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn english() -> &'static HashMap<String, String> {
    static ENGLISH: OnceLock<HashMap<String, String>> = OnceLock::new();
    ENGLISH.get_or_init(|| {
        serde_json::from_str(include_str!("../ui/i18n/en.json")).unwrap_or_default()
    })
}

/// Whether the English catalogue has `key` (for tests that walk every sentence).
pub fn known(key: &str) -> bool {
    english().contains_key(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_arguments_and_leaves_the_rest() {
        let args: BTreeMap<&'static str, String> =
            [("a", "1".to_string()), ("b", "{x}".to_string())].into();
        let table = [
            ("{a} and {b}", "1 and {x}"),
            ("no args", "no args"),
            ("{missing} {a}", "{missing} 1"),
            ("open { brace", "open { brace"),
            ("", ""),
        ];
        for (template, expected) in table {
            assert_eq!(render(template, &args), expected, "{template}");
        }
        let m = Message::new("core.range", [("min", "1".into()), ("max", "9".into())]);
        assert_eq!(m.to_string(), "must be between 1 and 9");
        assert_eq!(Message::new("core.nope", []).english(), "core.nope");
        assert!(known("core.range") && !known("core.nope"));
    }
}
