//! The settings file the app keeps: JSON in the OS config dir, written atomically and
//! owner-only (it may hold the SOCKS password). A file that cannot be read as settings is
//! never silently overwritten: it is kept as `settings.json.bak`, defaults are loaded, and
//! the caller gets a notice to show.

use std::path::{Path, PathBuf};

use super::{Settings, SystemProxyMode};
use crate::message::Message;

/// `~/.config/socksbridge/settings.json` (the OS config dir elsewhere).
pub fn default_path() -> PathBuf {
    dirs::config_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("socksbridge")
        .join("settings.json")
}

/// The result of loading: the settings, and a notice when the file had to be set aside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub settings: Settings,
    pub notice: Option<Message>,
}

/// Loads `path`; a missing file gives defaults; an unreadable, malformed or invalid one
/// is renamed to `<name>.bak` and defaults are returned with a notice.
pub fn load(path: &Path) -> Loaded {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Loaded {
                settings: first_run(),
                notice: None,
            }
        }
        Err(e) => return set_aside(path, &format!("cannot read it: {e}")),
    };
    match Settings::from_json_migrating(&text) {
        Ok((settings, migrated)) => match settings.validate() {
            Ok(_) => {
                if migrated {
                    keep_old_format(path, &text, &settings);
                }
                Loaded {
                    settings,
                    notice: None,
                }
            }
            Err(e) => set_aside(path, &e.to_string()),
        },
        Err(e) => set_aside(path, &e.to_string()),
    }
}

/// A file from before the server list: the original is kept beside it, then the file is
/// rewritten as a list of one. If either write fails the file stays as it was (it still
/// loads, migrated again next time).
fn keep_old_format(path: &Path, text: &str, settings: &Settings) {
    let backup = migration_backup_path(path);
    let result =
        crate::fsutil::write_atomic(&backup, text.as_bytes()).and_then(|()| save(path, settings));
    match result {
        Ok(()) => tracing::info!(
            "moved the settings to the server list; the previous file is kept as {}",
            backup.display()
        ),
        Err(e) => tracing::warn!("could not rewrite {} as a server list: {e}", path.display()),
    }
}

/// Where a pre-server-list file is kept: `settings.json.single-upstream.bak`.
pub fn migration_backup_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".single-upstream.bak");
    path.with_file_name(name)
}

fn set_aside(path: &Path, why: &str) -> Loaded {
    let backup = backup_path(path);
    let renamed = std::fs::rename(path, &backup);
    let (path, why) = (path.display().to_string(), why.to_string());
    let notice = match renamed {
        Ok(()) => Message::new(
            "core.settings_damaged_kept",
            [
                ("path", path),
                ("why", why),
                ("backup", backup.display().to_string()),
            ],
        ),
        Err(e) => Message::new(
            "core.settings_damaged_lost",
            [("path", path), ("why", why), ("error", e.to_string())],
        ),
    };
    tracing::warn!("{notice}");
    Loaded {
        settings: first_run(),
        notice: Some(notice),
    }
}

/// The app's settings before the user saved any: enabling the proxy also points the
/// desktop at it, which is what the tray's one click promises. (The CLI's default, and a
/// saved file's own choice, stay as they are.)
pub fn first_run() -> Settings {
    let mut settings = Settings::default();
    settings.system_proxy.mode = SystemProxyMode::Global;
    settings
}

pub fn backup_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".bak");
    path.with_file_name(name)
}

/// Writes settings atomically, owner-only.
pub fn save(path: &Path, settings: &Settings) -> std::io::Result<()> {
    let mut json = serde_json::to_vec_pretty(settings).map_err(std::io::Error::other)?;
    json.push(b'\n');
    crate::fsutil::write_atomic(path, &json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ServerSettings;

    #[test]
    fn missing_valid_corrupt_and_invalid_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        // No file yet: enabling will point the desktop at the proxy.
        let fresh = load(&path);
        assert_eq!(fresh.notice, None);
        assert_eq!(fresh.settings.system_proxy.mode, SystemProxyMode::Global);
        assert_eq!(
            Settings {
                system_proxy: Settings::default().system_proxy,
                ..fresh.settings
            },
            Settings::default()
        );

        // A saved file keeps its own mode, off included.
        let settings = Settings::default().with_upstream("socks5h://u:p@10.0.0.2:1080");
        save(&path, &settings).unwrap();
        assert_eq!(load(&path).settings, settings);
        let old = r#"{"upstream": "socks5h://127.0.0.1:9050", "upstream_via": "http://o:3128"}"#;
        std::fs::write(&path, old).unwrap();
        let migrated = load(&path).settings;
        assert_eq!(migrated.system_proxy.mode, SystemProxyMode::Off);
        assert_eq!(
            migrated.servers,
            vec![ServerSettings {
                via: Some("http://o:3128".into()),
                ..ServerSettings::new("127.0.0.1:9050", "socks5h://127.0.0.1:9050")
            }]
        );
        assert_eq!(
            std::fs::read_to_string(migration_backup_path(&path)).unwrap(),
            old,
            "the old file is kept"
        );
        assert_eq!(load(&path).settings, migrated, "rewritten in the new form");
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .contains("\"servers\""));
        save(&path, &settings).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }

        for broken in [
            "{\"listen\": ",
            "{\"colour\": 1}",
            "{\"upstream\": \"http://x\"}",
        ] {
            std::fs::write(&path, broken).unwrap();
            let loaded = load(&path);
            assert_eq!(loaded.settings, first_run(), "{broken}");
            let notice = loaded.notice.unwrap().to_string();
            assert!(
                notice.contains("was damaged") && notice.contains("settings.json.bak"),
                "{notice}"
            );
            assert_eq!(
                std::fs::read_to_string(backup_path(&path)).unwrap(),
                broken,
                "original kept"
            );
            assert!(!path.exists());
        }
    }
}
