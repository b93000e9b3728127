//! CONNECT authority parsing: never panics; accepted authorities display and re-parse
//! to the same target.
#![no_main]
use libfuzzer_sys::fuzz_target;
use socksbridge::target::Target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(target) = Target::parse_authority(text) {
        assert_ne!(target.port, 0);
        let again = Target::parse_authority(&target.to_string()).expect("a displayed target must re-parse");
        assert_eq!(again, target);
    }
});
