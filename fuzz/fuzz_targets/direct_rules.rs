//! The --direct matcher: any list and any host, never a panic; `*` matches everything.
#![no_main]
use libfuzzer_sys::fuzz_target;
use socksbridge::fuzzing::DirectRules;
use socksbridge::target::{Host, Target};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (list, host) = text.split_once('\n').unwrap_or((text, "example.com"));
    let Ok(host) = Host::parse(host) else { return };
    let target = Target::new(host, 443);
    if let Ok(rules) = DirectRules::parse_list(list) {
        let _ = rules.matches(&target);
    }
    let all = DirectRules::parse_list(&format!("{list},*")).unwrap_or_else(|_| DirectRules::parse_list("*").expect("*"));
    assert!(all.matches(&target));
});
