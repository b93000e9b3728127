//! A password in the settings: read, compared, saved and sent to a server, never printed.
//! `Debug` shows `<redacted>`, so a `{:?}` of the settings, a server or the controller in a
//! log line leaks nothing; there is no `Display`, so `{}` will not compile.

use serde::{Deserialize, Serialize};

#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(secret: impl Into<String>) -> Secret {
        Secret(secret.into())
    }

    /// The secret itself, for the one place that must send or compare it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Secret {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Secret {
    fn from(secret: &str) -> Secret {
        Secret::new(secret)
    }
}

impl From<String> for Secret {
    fn from(secret: String) -> Secret {
        Secret(secret)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "<redacted>"
        })
    }
}

/// A proxy URL as it may be shown: `scheme://user@host:port`, the password left out.
pub fn url_without_password(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((userinfo, host)) => {
                let user = userinfo.split(':').next().unwrap_or("");
                format!("{scheme}://{user}@{host}")
            }
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_never_shown_and_round_trips_as_a_plain_string() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), "<redacted>");
        assert_eq!(format!("{:?}", Secret::default()), "\"\"");
        assert_eq!(secret.expose(), "hunter2");
        assert_eq!(secret.len(), 7);
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"hunter2\"");
        assert_eq!(
            serde_json::from_str::<Secret>("\"hunter2\"").unwrap(),
            secret
        );
    }

    #[test]
    fn urls_are_shown_without_their_password() {
        for (url, shown) in [
            ("socks5h://me:pw@h:1080", "socks5h://me@h:1080"),
            ("socks5h://me:p@ss@h:1080", "socks5h://me@h:1080"),
            ("socks5h://me@h:1080", "socks5h://me@h:1080"),
            ("socks5h://h:1080", "socks5h://h:1080"),
            ("direct://", "direct://"),
            ("not a url", "not a url"),
        ] {
            assert_eq!(url_without_password(url), shown, "{url}");
        }
    }
}
