//! The upstream URL parser: never panics, and what it accepts round-trips through the
//! URL it writes to the settings file.
#![no_main]
use libfuzzer_sys::fuzz_target;
use socksbridge::config::Upstream;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(upstream) = Upstream::parse(text) {
        let again = Upstream::parse(&upstream.to_url()).expect("a parsed upstream must re-parse");
        assert_eq!(again, upstream);
        // The displayed form never carries the password.
        let shown = upstream.redacted();
        if let Some((userinfo, _)) = shown.split_once("://").and_then(|(_, rest)| rest.rsplit_once('@')) {
            assert!(!userinfo.contains(':'), "password shown in {shown}");
        }
    }
});
