//! Whether the desktop shows tray icons at all. Stock GNOME has shown none since 3.26
//! unless the AppIndicator extension is installed: there a tray-only app is invisible and
//! the proxy cannot be turned on. So the app watches for a tray host — a
//! `StatusNotifierWatcher` on the session bus (KDE, Ubuntu's GNOME, XFCE/MATE/Cinnamon with
//! their applets), or an X11 system tray (`_NET_SYSTEM_TRAY_S<screen>`, where
//! libayatana-appindicator falls back to an XEmbed icon) — and while there is none the
//! settings window is the app: it opens at launch and whenever the host goes away, says why
//! and what to do, and closing it asks whether to keep running. Windows and macOS always
//! have a tray.

use tauri::{AppHandle, Runtime};

/// The name a StatusNotifierItem host owns on the session bus.
pub const WATCHER: &str = "org.kde.StatusNotifierWatcher";

/// What a change in the host's presence asks of the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// No host: the window opens (at launch, or because the host went away).
    Missing,
    /// A host appeared: the icon shows there and the window's hint goes away.
    Appeared,
}

/// The change from what was known (`None`: nothing yet, at launch) to what is seen now.
pub fn change(before: Option<bool>, present: bool) -> Option<Change> {
    match (before, present) {
        (None | Some(true), false) => Some(Change::Missing),
        (Some(false), true) => Some(Change::Appeared),
        _ => None,
    }
}

/// Starts watching for the life of the app.
pub fn watch<R: Runtime>(app: AppHandle<R>) {
    #[cfg(target_os = "linux")]
    tauri::async_runtime::spawn(linux::watch(app));
    #[cfg(not(target_os = "linux"))]
    let _ = app;
}

#[cfg(target_os = "linux")]
mod linux {
    use std::time::Duration;

    use futures_util::StreamExt;
    use tauri::{AppHandle, Manager, Runtime};
    use x11rb::protocol::xproto::ConnectionExt as _;
    use zbus::fdo::DBusProxy;

    use super::{change, Change, WATCHER};
    use crate::state::AppState;

    /// How often the X11 tray is looked for (it announces itself only to X clients that
    /// listen for its selection; one round trip every few seconds is cheaper than that).
    const X11_EVERY: Duration = Duration::from_secs(5);

    /// Records a sighting and acts on what changed (a sighting like the last one does nothing).
    fn seen<R: Runtime>(app: &AppHandle<R>, before: Option<bool>, present: bool) {
        if before == Some(present) {
            return;
        }
        let state = app.state::<AppState>();
        state.set_tray_missing(!present);
        match change(before, present) {
            Some(Change::Missing) => {
                tracing::warn!(
                    "no tray host on this desktop (no {WATCHER} on the session bus, no X11 system \
                     tray): the settings window stays available instead"
                );
                crate::window::open(app);
            }
            Some(Change::Appeared) => {
                tracing::info!("a tray host appeared: the icon is in the tray")
            }
            None => {}
        }
        state.announce();
    }

    pub async fn watch<R: Runtime>(app: AppHandle<R>) {
        let bus = match bus().await {
            Ok(bus) => Some(bus),
            Err(e) => {
                tracing::info!("cannot watch the session bus for a tray host: {e}");
                None
            }
        };
        let mut owners = match &bus {
            Some(bus) => bus
                .receive_name_owner_changed_with_args(&[(0, WATCHER)])
                .await
                .map_err(|e| tracing::info!("cannot follow {WATCHER}: {e}"))
                .ok(),
            None => None,
        };
        let mut known = None;
        let mut x11 = tokio::time::interval(X11_EVERY);
        loop {
            let present = watcher_present(bus.as_ref()).await || x11_tray_present().await;
            seen(&app, known, present);
            known = Some(present);
            tokio::select! {
                Some(_) = async {
                    match owners.as_mut() {
                        Some(owners) => owners.next().await,
                        None => std::future::pending().await,
                    }
                } => {}
                _ = x11.tick() => {}
            }
        }
    }

    async fn bus() -> zbus::Result<DBusProxy<'static>> {
        let connection = zbus::Connection::session().await?;
        DBusProxy::new(&connection).await
    }

    async fn watcher_present(bus: Option<&DBusProxy<'static>>) -> bool {
        let Some(bus) = bus else {
            return false;
        };
        let Ok(name) = WATCHER.try_into() else {
            return false;
        };
        bus.name_has_owner(name).await.unwrap_or(false)
    }

    /// Whether an X11 system tray owns its selection on the default screen.
    async fn x11_tray_present() -> bool {
        if std::env::var_os("DISPLAY").is_none_or(|d| d.is_empty()) {
            return false;
        }
        tokio::task::spawn_blocking(|| {
            let (conn, screen) = x11rb::connect(None).ok()?;
            let name = format!("_NET_SYSTEM_TRAY_S{screen}");
            let atom = conn
                .intern_atom(true, name.as_bytes())
                .ok()?
                .reply()
                .ok()?
                .atom;
            if atom == x11rb::NONE {
                return Some(false);
            }
            let owner = conn.get_selection_owner(atom).ok()?.reply().ok()?.owner;
            Some(owner != x11rb::NONE)
        })
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_opens_when_there_is_no_host_at_launch_or_it_goes_away() {
        let cases = [
            (None, false, Some(Change::Missing)),
            (None, true, None),
            (Some(true), false, Some(Change::Missing)),
            (Some(false), true, Some(Change::Appeared)),
            (Some(true), true, None),
            (Some(false), false, None),
        ];
        for (before, present, expected) in cases {
            assert_eq!(change(before, present), expected, "{before:?} → {present}");
        }
    }
}
