//! Server links, the way people pass servers around: one URL per server,
//! `socks5h://user:pass@host:port#Name`, in a chat message, a note or the clipboard.
//! Importing picks every link out of pasted text and reports the ones it cannot use;
//! exporting writes the list back the same way, passwords only when asked for.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};
use serde::Serialize;

use super::servers::{default_name, ServerSettings, MAX_NAME};
use super::upstream::Upstream;
use crate::message::Message;

/// What an import found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Imported {
    /// New servers, named uniquely against the list they join.
    pub servers: Vec<ServerSettings>,
    /// Links already in the list (same URL), left out.
    pub duplicates: usize,
    /// Links that are not usable servers, with the reason.
    pub errors: Vec<LinkError>,
}

/// One link that could not be imported; the password is never repeated back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkError {
    pub link: String,
    /// Why, in English.
    pub message: String,
    /// Why, for the window to say in the user's language.
    pub text: Message,
}

/// Characters escaped in a name fragment.
const FRAGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'`');

/// Every `scheme://…` link in `text` (separated by white space) that is a server, added
/// after `existing`.
pub fn import(text: &str, existing: &[ServerSettings]) -> Imported {
    let mut out = Imported::default();
    let mut taken: Vec<String> = existing.iter().map(|s| s.name.trim().to_string()).collect();
    let mut urls: Vec<String> = existing.iter().map(|s| canonical(&s.url)).collect();
    for link in text.split_whitespace().filter(|t| t.contains("://")) {
        // The name starts at the first `#` after the credentials (a password may hold one).
        let after_credentials = link.rfind('@').unwrap_or(0);
        let (url, fragment) = match link[after_credentials..].find('#') {
            Some(at) => (
                &link[..after_credentials + at],
                &link[after_credentials + at + 1..],
            ),
            None => (link, ""),
        };
        let upstream = match parse_link(url) {
            Ok(upstream) => upstream,
            Err(text) => {
                out.errors.push(LinkError {
                    link: shown(url, fragment),
                    message: text.english(),
                    text,
                });
                continue;
            }
        };
        let url = upstream.to_url();
        if urls.contains(&url) {
            out.duplicates += 1;
            continue;
        }
        let wanted = percent_decode_str(fragment)
            .decode_utf8_lossy()
            .trim()
            .chars()
            .take(MAX_NAME)
            .collect::<String>();
        let wanted = if wanted.is_empty() {
            default_name(&upstream)
        } else {
            wanted
        };
        let name = unique_name(&wanted, &taken);
        taken.push(name.clone());
        urls.push(url.clone());
        out.servers.push(ServerSettings::new(name, url));
    }
    out
}

/// The list as links, one per line, `#name` fragments; passwords only when asked for.
/// `direct://` is not a server and is left out; so is a server's `via`, a detail of this
/// machine's network rather than of the server.
pub fn export(servers: &[ServerSettings], with_passwords: bool) -> String {
    let mut out = String::new();
    for server in servers {
        let url = match Upstream::parse(&server.url) {
            Ok(Upstream::Direct) | Err(_) => continue,
            Ok(up) if with_passwords => up.to_url(),
            Ok(up) => up.redacted(),
        };
        out.push_str(&url);
        out.push('#');
        out.push_str(&utf8_percent_encode(server.name.trim(), FRAGMENT).to_string());
        out.push('\n');
    }
    out
}

/// The server a link names. What is wrong is said without the link's password: the
/// error is taken from the link with the password replaced, and when only the password
/// was wrong, that is all it says.
fn parse_link(url: &str) -> Result<Upstream, Message> {
    let upstream = Upstream::parse(url).map_err(|e| match without_password(url) {
        Some(clean) => match Upstream::parse(&clean) {
            Err(e) => e.message(),
            Ok(_) => Message::new("core.link_credentials", []),
        },
        None => e.message(),
    })?;
    match upstream {
        Upstream::Direct => Err(Message::new("core.link_direct", [])),
        upstream => Ok(upstream),
    }
}

/// `url` with the password (between the user name and the last `@`) replaced by `x`.
fn without_password(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let (userinfo, host) = rest.rsplit_once('@')?;
    let (user, _) = userinfo.split_once(':')?;
    Some(format!("{scheme}://{user}:x@{host}"))
}

/// A URL compared as the settings would store it.
fn canonical(url: &str) -> String {
    Upstream::parse(url)
        .map(|u| u.to_url())
        .unwrap_or_else(|_| url.trim().to_string())
}

/// The link as the error shows it: no password.
fn shown(url: &str, fragment: &str) -> String {
    let without_password = crate::secret::url_without_password(url);
    if fragment.is_empty() {
        without_password
    } else {
        format!("{without_password}#{fragment}")
    }
}

/// `wanted`, or `wanted (2)`, `(3)`, … whichever is not taken (ignoring case).
pub fn unique_name(wanted: &str, taken: &[String]) -> String {
    let free = |name: &str| !taken.iter().any(|t| t.eq_ignore_ascii_case(name));
    if free(wanted) {
        return wanted.to_string();
    }
    (2..)
        .map(|n| format!("{wanted} ({n})"))
        .find(|name| free(name))
        .unwrap_or_else(|| wanted.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(imported: &Imported) -> Vec<(&str, &str)> {
        imported
            .servers
            .iter()
            .map(|s| (s.name.as_str(), s.url.as_str()))
            .collect()
    }

    #[test]
    fn imports_each_scheme_with_names_and_credentials() {
        let text = "Here are mine:\n\
            socks5h://alice:s%3Acret@10.0.0.2:1080#Home%20server\n\
            socks5://h:9050   socks4://bob@h4:1081#Old\r\n\
            socks4a://h4a:1082#\n\
            http://u:p@office.example:3128#Office\n\
            https://secure.example:443#TLS\n\
            SOCKS5H://[::1]:1080";
        let imported = import(text, &[]);
        assert_eq!(imported.errors, vec![]);
        assert_eq!(
            names(&imported),
            vec![
                ("Home server", "socks5h://alice:s%3Acret@10.0.0.2:1080"),
                ("h:9050", "socks5://h:9050"),
                ("Old", "socks4://bob@h4:1081"),
                ("h4a:1082", "socks4a://h4a:1082"),
                ("Office", "http://u:p@office.example:3128"),
                ("TLS", "https://secure.example:443"),
                ("[::1]:1080", "socks5h://[::1]:1080"),
            ]
        );
    }

    #[test]
    fn reports_bad_links_without_their_passwords_and_skips_duplicates() {
        let existing = [ServerSettings::new("Home", "socks5h://10.0.0.2:1080")];
        let text = "socks5h://10.0.0.2:1080#Again socks5h://u:hunter2@h:99999#X \
                    https://u:hunter2@p direct:// ftp://h:1 socks5h://h:1#Home \
                    socks5h://h:1#Dup";
        let imported = import(text, &existing);
        assert_eq!(imported.duplicates, 2);
        assert_eq!(names(&imported), vec![("Home (2)", "socks5h://h:1")]);
        let errors: Vec<(&str, &str)> = imported
            .errors
            .iter()
            .map(|e| (e.link.as_str(), e.message.as_str()))
            .collect();
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert_eq!(errors[0].0, "socks5h://u@h:99999#X");
        assert!(errors[0].1.contains("invalid port"), "{errors:?}");
        assert_eq!(errors[1].0, "https://u@p");
        assert!(errors[1].1.contains("needs a port"), "{errors:?}");
        assert_eq!(errors[2].1, "direct:// is not a server");
        assert!(errors[3].1.contains("unknown scheme 'ftp'"));
        assert!(!format!("{imported:?}").contains("hunter2"));
        // A password with the characters that end other parts of a link.
        for link in [
            "socks5h://alice:pa#ss@h:1080#Home",
            "socks5h://alice:se/cret@h:1080",
            "socks5h://alice:se?cret@h:99999",
            "socks5h://alice:%FFcret@h:1080",
        ] {
            let imported = import(link, &[]);
            let shown = format!("{imported:?}");
            for piece in [
                "pa#ss", "ss@", "se/", "/cret", "se?", "?cret", "%FF", "cret",
            ] {
                assert!(!shown.contains(piece), "{link}: {shown}");
            }
        }
        let hashed = import("socks5h://alice:pa%23ss@h:1080#Ho%23me", &[]);
        assert_eq!(hashed.servers[0].name, "Ho#me");
        assert_eq!(hashed.servers[0].url, "socks5h://alice:pa%23ss@h:1080");
        assert_eq!(import("no links here", &[]), Imported::default());
    }

    #[test]
    fn export_round_trips_and_hides_passwords_unless_asked() {
        let servers = vec![
            ServerSettings::new("Home server #1", "socks5h://alice:s%3Acret@10.0.0.2:1080"),
            ServerSettings::new("Офис", "http://u:p@office.example:3128"),
            ServerSettings::new("Direct", "direct://"),
        ];
        let with = export(&servers, true);
        assert_eq!(
            with.lines().next().unwrap(),
            "socks5h://alice:s%3Acret@10.0.0.2:1080#Home%20server%20%231"
        );
        assert_eq!(with.lines().count(), 2, "{with}");
        assert_eq!(import(&with, &[]).servers, servers[..2]);
        let without = export(&servers, false);
        assert!(
            !without.contains("s%3Acret") && !without.contains(":p@"),
            "{without}"
        );
        assert!(without.contains("socks5h://alice@10.0.0.2:1080#"));
        assert_eq!(unique_name("A", &["a".into(), "A (2)".into()]), "A (3)");
    }
}
