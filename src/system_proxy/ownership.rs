//! Who owns each part of the setting when SocksBridge stops: decided per entry (a Windows
//! connection, a macOS service, KIO's keys, the GNOME keys) and per part of it (a proxy
//! slot, the PAC slot, the bypass list, WPAD), never for the whole machine from one place.
//!
//! A part goes back to the user's saved value when it still routes through us, or is as we
//! wrote it, or is off now as it was off before (their "off" stays off, and the text we
//! left in the greyed-out fields goes). Any other part is the user's own change and is
//! kept. Parts that only shape the others (a bypass list, automatic detection) go back
//! only when the user changed nothing in that entry: a bypass list belongs to the proxy
//! the user chose.

use super::{Current, Desired, Parts, Snapshot};

/// What identifies us in an OS setting: our listener's `host:port`, as the OS spells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ours {
    listener: String,
}

impl Ours {
    /// The listener `desired` points at (for a PAC URL, the host and port serving it).
    pub fn of(desired: &Desired) -> Ours {
        let listener = match desired {
            Desired::Global { proxy, .. } => proxy.to_string(),
            Desired::Pac { url } => url
                .strip_prefix("http://")
                .and_then(|rest| rest.split('/').next())
                .unwrap_or_default()
                .to_string(),
        };
        Ours { listener }
    }

    /// `host:port` is our listener.
    pub fn is_listener(&self, address: &str) -> bool {
        !self.listener.is_empty() && address == self.listener
    }

    /// `url` is a PAC URL we serve, of any revision.
    pub fn is_pac_url(&self, url: &str) -> bool {
        !self.listener.is_empty()
            && url
                .strip_prefix("http://")
                .and_then(|rest| rest.strip_prefix(self.listener.as_str()))
                .is_some_and(|path| path.starts_with(crate::pac::PAC_PATH))
    }

    /// The setting routes something through us: a proxy in use at our listener, or our
    /// PAC URL in use.
    pub fn routes(&self, current: &Current) -> bool {
        match current.mode.as_str() {
            "manual" => [&current.http, &current.https, &current.socks]
                .into_iter()
                .flatten()
                .any(|a| self.is_listener(a)),
            "auto" => self.is_pac_url(&current.pac_url),
            _ => false,
        }
    }

    pub fn listener(&self) -> &str {
        &self.listener
    }
}

/// What becomes of one part of an entry at restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Put back as saved.
    Back,
    /// Left as it is now: the user's.
    Theirs,
}

/// One part that can route traffic (a proxy slot, a PAC slot, a whole KIO or GNOME
/// setting), as it is now compared with what we wrote and what was saved.
#[derive(Debug, Clone, Copy)]
pub struct Routing {
    pub routes_through_us: bool,
    pub as_written: bool,
    pub on_now: bool,
    pub on_before: bool,
}

impl Routing {
    pub fn fate(self) -> Fate {
        if self.routes_through_us || self.as_written || (!self.on_now && !self.on_before) {
            Fate::Back
        } else {
            Fate::Theirs
        }
    }
}

/// A part that only shapes the routing parts of its entry (bypass list, WPAD).
pub fn shaping(as_written: bool, entry_changed_by_user: bool) -> Fate {
    if as_written && !entry_changed_by_user {
        Fate::Back
    } else {
        Fate::Theirs
    }
}

/// One entry's record to write back, and the user's changes that were kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Merged {
    pub record: Snapshot,
    /// "LAN settings: proxy server", "\"Wi-Fi\": web proxy": parts kept as the user set them.
    pub kept: Vec<String>,
}

/// Collects the fates of one entry's parts: `kept` names the parts left to the user that
/// differ from what was saved.
#[derive(Debug, Default)]
pub struct Judge {
    kept: Vec<String>,
    changed_by_user: bool,
}

impl Judge {
    /// Judges a routing part; true when it goes back.
    pub fn routing(&mut self, name: String, part: Routing, differs_from_saved: bool) -> bool {
        let back = part.fate() == Fate::Back;
        if !back && differs_from_saved {
            self.changed_by_user = true;
            self.kept.push(name);
        }
        back
    }

    /// Judges a shaping part after every routing part of the entry; true when it goes back.
    pub fn shaping(&mut self, name: String, as_written: bool, differs_from_saved: bool) -> bool {
        let back = shaping(as_written, self.changed_by_user) == Fate::Back;
        if !back && differs_from_saved {
            self.kept.push(name);
        }
        back
    }

    /// The parts left to the user that differ from what was saved.
    pub fn kept(self) -> Vec<String> {
        self.kept
    }
}

/// An entry that is one part (the GNOME keys, KIO's keys): all of it goes back to its
/// saved record or all of it stays as it is now. `now` and `saved` are the two records as
/// settings; `as_written` and `differs_from_saved` compare the records as the backend does.
pub fn whole_entry(
    parts: Parts<'_>,
    now: &Current,
    saved: &Current,
    as_written: bool,
    differs_from_saved: bool,
) -> Merged {
    let mut judge = Judge::default();
    let back = judge.routing(
        "proxy setting".to_string(),
        Routing {
            routes_through_us: parts.ours.routes(now),
            as_written,
            on_now: now.in_use(),
            on_before: saved.in_use(),
        },
        differs_from_saved,
    );
    Merged {
        record: if back { parts.saved } else { parts.now }.clone(),
        kept: judge.kept(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manual(http: &str, https: &str) -> Current {
        Current {
            mode: "manual".into(),
            http: Some(http.into()),
            https: Some(https.into()),
            ..Current::default()
        }
    }

    #[test]
    fn we_are_our_listener_and_our_pac_url_of_any_revision() {
        let listen = "127.0.0.1:1095".parse().unwrap();
        let global = Ours::of(&Desired::global(listen, Vec::new(), false));
        let pac = Ours::of(&Desired::pac(listen, &["*.local".into()]));
        assert_eq!(global, pac);
        let v6 = Ours::of(&Desired::global(
            "[::1]:1095".parse().unwrap(),
            Vec::new(),
            false,
        ));
        assert_eq!(v6.listener(), "[::1]:1095");
        for (url, ours) in [
            ("http://127.0.0.1:1095/proxy.pac?v=811c9dc5", true),
            ("http://127.0.0.1:1095/proxy.pac", true),
            ("http://127.0.0.1:10950/proxy.pac", false),
            ("http://127.0.0.1:1095/other.pac", false),
            ("https://127.0.0.1:1095/proxy.pac", false),
            ("http://wpad.corp.example/proxy.pac", false),
            ("", false),
        ] {
            assert_eq!(global.is_pac_url(url), ours, "{url}");
        }
        let cases = [
            (manual("127.0.0.1:1095", "127.0.0.1:1095"), true),
            (manual("corp:3128", "127.0.0.1:1095"), true),
            (manual("corp:3128", "corp:3128"), false),
            (
                Current {
                    mode: "none".into(),
                    ..manual("127.0.0.1:1095", "127.0.0.1:1095")
                },
                false,
            ),
            (
                Current {
                    mode: "auto".into(),
                    pac_url: "http://127.0.0.1:1095/proxy.pac?v=1".into(),
                    ..Current::default()
                },
                true,
            ),
        ];
        for (current, routes) in cases {
            assert_eq!(global.routes(&current), routes, "{current:?}");
        }
        let nobody = Ours::of(&Desired::Pac { url: String::new() });
        assert!(!nobody.is_listener("") && !nobody.is_pac_url("http:///proxy.pac"));
    }

    /// The whole rule as a table: (routes through us, as written, on now, on before) → fate.
    #[test]
    fn a_routing_part_goes_back_unless_the_user_made_it_their_own() {
        use Fate::*;
        let cases = [
            ((true, false, true, true), Back),
            ((false, true, true, false), Back),
            ((false, false, false, false), Back),
            ((false, false, false, true), Theirs),
            ((false, false, true, false), Theirs),
            ((false, false, true, true), Theirs),
        ];
        for ((routes_through_us, as_written, on_now, on_before), fate) in cases {
            let part = Routing {
                routes_through_us,
                as_written,
                on_now,
                on_before,
            };
            assert_eq!(part.fate(), fate, "{part:?}");
        }
        assert_eq!(shaping(true, false), Back);
        assert_eq!(shaping(true, true), Theirs);
        assert_eq!(shaping(false, false), Theirs);
    }

    #[test]
    fn the_judge_names_what_it_kept_and_holds_shaping_parts_to_the_users_choice() {
        let theirs = Routing {
            routes_through_us: false,
            as_written: false,
            on_now: true,
            on_before: false,
        };
        let mut judge = Judge::default();
        assert!(!judge.routing("web proxy".into(), theirs, true));
        assert!(!judge.shaping("bypass list".into(), true, true));
        assert_eq!(judge.kept(), ["web proxy", "bypass list"]);

        let mut judge = Judge::default();
        // Theirs but as saved: nothing of the user's to report, shaping parts still go back.
        assert!(!judge.routing("web proxy".into(), theirs, false));
        assert!(judge.shaping("bypass list".into(), true, true));
        assert!(judge.kept().is_empty());
    }
}
