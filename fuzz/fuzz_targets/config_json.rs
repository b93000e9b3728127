//! The settings loader: arbitrary JSON never panics parsing or validating, and settings
//! that validate survive a save/load round trip unchanged.
#![no_main]
use libfuzzer_sys::fuzz_target;
use socksbridge::Settings;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(settings) = Settings::from_json(text) else { return };
    if settings.validate().is_ok() {
        let json = serde_json::to_string(&settings).expect("settings serialize");
        assert_eq!(Settings::from_json(&json).expect("saved settings load"), settings);
    }
});
