//! The GVariant text format `gsettings` reads and prints, for the few types the proxy
//! schemas use: strings, string arrays, integers and booleans.

/// Quotes a string as a GVariant string literal.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A string array literal; empty arrays need the type annotation.
pub fn quote_array(items: &[String]) -> String {
    if items.is_empty() {
        return "@as []".to_string();
    }
    let quoted: Vec<String> = items.iter().map(|s| quote(s)).collect();
    format!("[{}]", quoted.join(", "))
}

/// Parses one string literal (`'…'` or `"…"`), returning it and the rest of the input.
fn parse_string(input: &str) -> Option<(String, &str)> {
    let mut chars = input.char_indices();
    let (_, delim) = chars.next()?;
    if delim != '\'' && delim != '"' {
        return None;
    }
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                let (_, escaped) = chars.next()?;
                match escaped {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'u' => {
                        let hex: String = (0..4)
                            .filter_map(|_| chars.next().map(|(_, h)| h))
                            .collect();
                        out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                    }
                    other => out.push(other),
                }
            }
            c if c == delim => return Some((out, &input[i + 1..])),
            c => out.push(c),
        }
    }
    None
}

/// Parses a string value as printed by `gsettings get`.
pub fn parse_str(text: &str) -> Option<String> {
    let (s, rest) = parse_string(text.trim())?;
    rest.trim().is_empty().then_some(s)
}

/// Parses a string array as printed by `gsettings get` (`@as []` when empty).
pub fn parse_array(text: &str) -> Option<Vec<String>> {
    let text = text.trim();
    let text = text
        .strip_prefix("@as")
        .map(str::trim_start)
        .unwrap_or(text);
    let mut rest = text.strip_prefix('[')?.trim_start();
    let mut items = Vec::new();
    loop {
        if let Some(after) = rest.strip_prefix(']') {
            return after.trim().is_empty().then_some(items);
        }
        let (item, after) = parse_string(rest)?;
        items.push(item);
        rest = after.trim_start();
        rest = rest.strip_prefix(',').map(str::trim_start).unwrap_or(rest);
    }
}

/// Parses an integer value (`gsettings` may print `uint32 5` style annotations).
/// Two printed values mean the same: equal text, or the same string, string array or
/// number however `gsettings` chose to quote it.
pub fn same(a: &str, b: &str) -> bool {
    a == b
        || matches!((parse_str(a), parse_str(b)), (Some(x), Some(y)) if x == y)
        || matches!((parse_array(a), parse_array(b)), (Some(x), Some(y)) if x == y)
}

pub fn parse_int(text: &str) -> Option<i64> {
    text.split_whitespace().last()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_round_trips() {
        for s in [
            "",
            "127.0.0.1",
            "it's",
            "back\\slash",
            "tab\tnew\nline",
            "\"dq\"",
            "ünï",
        ] {
            assert_eq!(parse_str(&quote(s)).as_deref(), Some(s), "{s:?}");
        }
        assert_eq!(quote("it's"), r"'it\'s'");
    }

    /// Control characters are escaped (gsettings rejects them raw); a space is not.
    #[test]
    fn control_characters_are_escaped_and_nothing_else() {
        assert_eq!(quote("a\u{1}b"), "'a\\u0001b'");
        assert_eq!(quote("\u{1f}"), "'\\u001f'");
        assert_eq!(quote("a b"), "'a b'");
    }

    #[test]
    fn the_same_value_however_it_is_quoted() {
        assert!(same("'it\\'s'", "\"it's\""));
        assert!(same("@as []", "[]"));
        assert!(same("['a', \"b'c\"]", "['a', 'b\\'c']"));
        assert!(same("1095", "1095"));
        assert!(!same("'a'", "'b'"));
        assert!(!same("['a']", "['a', 'b']"));
        assert!(!same("1095", "1096"));
    }

    #[test]
    fn parses_what_gsettings_prints() {
        assert_eq!(parse_str("'manual'").as_deref(), Some("manual"));
        assert_eq!(parse_str("\"it's\"").as_deref(), Some("it's"));
        assert_eq!(parse_str("'a' trailing"), None);
        assert_eq!(parse_array("@as []"), Some(vec![]));
        assert_eq!(parse_array("[]"), Some(vec![]));
        assert_eq!(
            parse_array("['localhost', '127.0.0.0/8', \"it's\"]"),
            Some(vec![
                "localhost".into(),
                "127.0.0.0/8".into(),
                "it's".into()
            ])
        );
        assert_eq!(parse_array("['unterminated"), None);
        assert_eq!(parse_int("8080"), Some(8080));
        assert_eq!(parse_int("uint32 7"), Some(7));
        assert_eq!(quote_array(&[]), "@as []");
        assert_eq!(quote_array(&["a".into(), "b'c".into()]), r"['a', 'b\'c']");
    }
}
