//! Resume from sleep and network changes, which can leave pooled upstream connections dead
//! and a new network without our setting. On each (coalesced over a short settle time) the
//! upstream is re-tested, pooled connections dropped, and the OS setting applied again only
//! while it is still ours (`actions::network_changed`); something the user turned off stays
//! off.
//!
//! Linux: logind's `PrepareForSleep(false)` and NetworkManager's `StateChanged` to
//! "connected" or a new primary connection, on the system bus; with no system bus or
//! neither service, nothing is watched. Windows and macOS have no watcher yet.

use tauri::{AppHandle, Runtime};

/// Starts watching, for the life of the app.
pub fn watch<R: Runtime>(app: AppHandle<R>) {
    #[cfg(target_os = "linux")]
    tauri::async_runtime::spawn(async move {
        if let Err(e) = linux::run(app).await {
            tracing::info!("resume and network changes are not watched: {e}");
        }
    });
    #[cfg(not(target_os = "linux"))]
    let _ = app;
}

#[cfg(target_os = "linux")]
mod linux {
    use std::time::Duration;

    use futures_util::StreamExt;
    use tauri::{AppHandle, Runtime};
    use zbus::message::Type;
    use zbus::{Connection, MatchRule, MessageStream};

    /// Events within this time of the first are one change (NetworkManager sends bursts); a
    /// steady stream still gets one refresh per window, never none.
    const SETTLE: Duration = Duration::from_secs(2);

    /// Takes in the burst that began with `first` for [`SETTLE`], then acts once.
    async fn settle_then_act<R: Runtime>(
        app: &AppHandle<R>,
        first: &'static str,
        events: &mut tokio::sync::mpsc::Receiver<&'static str>,
    ) {
        let mut reason = first;
        let until = tokio::time::Instant::now() + SETTLE;
        while let Ok(Some(next)) = tokio::time::timeout_at(until, events.recv()).await {
            // A resume explains the network events that follow it.
            if reason != RESUMED {
                reason = next;
            }
        }
        crate::actions::network_changed(app, reason).await;
    }

    const RESUMED: &str = "resumed from sleep";
    const NETWORK_CHANGED: &str = "the network changed";

    /// `NM_STATE_CONNECTED_GLOBAL`.
    const NM_CONNECTED: u32 = 70;

    fn rule(interface: &'static str, member: &'static str) -> zbus::Result<MatchRule<'static>> {
        Ok(MatchRule::builder()
            .msg_type(Type::Signal)
            .interface(interface)?
            .member(member)?
            .build())
    }

    pub(super) async fn run<R: Runtime>(app: AppHandle<R>) -> zbus::Result<()> {
        let bus = Connection::system().await?;
        let mut sleep = MessageStream::for_match_rule(
            rule("org.freedesktop.login1.Manager", "PrepareForSleep")?,
            &bus,
            Some(16),
        )
        .await?;
        let mut state = MessageStream::for_match_rule(
            rule("org.freedesktop.NetworkManager", "StateChanged")?,
            &bus,
            Some(16),
        )
        .await?;
        let mut properties = MessageStream::for_match_rule(
            MatchRule::builder()
                .msg_type(Type::Signal)
                .interface("org.freedesktop.DBus.Properties")?
                .member("PropertiesChanged")?
                .path("/org/freedesktop/NetworkManager")?
                .build(),
            &bus,
            Some(16),
        )
        .await?;
        tracing::info!("watching for resume and network changes (logind, NetworkManager)");

        let (events, mut received) = tokio::sync::mpsc::channel::<&'static str>(16);
        tauri::async_runtime::spawn(async move {
            while let Some(first) = received.recv().await {
                settle_then_act(&app, first, &mut received).await;
            }
        });
        loop {
            let event = tokio::select! {
                Some(Ok(m)) = sleep.next() => {
                    // `true` announces the sleep, `false` the resume.
                    matches!(m.body().deserialize::<bool>(), Ok(false)).then_some(RESUMED)
                }
                Some(Ok(m)) = state.next() => {
                    matches!(m.body().deserialize::<u32>(), Ok(NM_CONNECTED))
                        .then_some(NETWORK_CHANGED)
                }
                Some(Ok(m)) = properties.next() => {
                    type Changed = (
                        String,
                        std::collections::HashMap<String, zbus::zvariant::OwnedValue>,
                        Vec<String>,
                    );
                    match m.body().deserialize::<Changed>() {
                        Ok((_, changed, _)) if changed.contains_key("PrimaryConnection") => {
                            Some(NETWORK_CHANGED)
                        }
                        _ => None,
                    }
                }
                else => return Ok(()),
            };
            if let Some(event) = event {
                let _ = events.try_send(event);
            }
        }
    }
}
