//! The inbound SOCKS5/SOCKS4a handshake parsers, on arbitrary bytes: never panic, never
//! claim to have used more bytes than they were given, and a complete message stays
//! complete when more bytes follow it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use socksbridge::fuzzing::parse;

fn check<T: PartialEq + std::fmt::Debug>(data: &[u8], f: fn(&[u8]) -> parse::Parsed<T>) {
    if let Ok(Some((value, used))) = f(data) {
        assert!(used <= data.len());
        let mut longer = data.to_vec();
        longer.extend_from_slice(b"trailing");
        let again = f(&longer).expect("a complete message cannot become invalid").expect("nor incomplete");
        assert_eq!((again.0, again.1), (value, used));
    }
}

fuzz_target!(|data: &[u8]| {
    check(data, parse::greeting);
    check(data, parse::user_pass);
    check(data, parse::request5);
    check(data, parse::request4);
});
