//! Linux: logind's `PrepareForSleep(false)` and NetworkManager's `StateChanged` to
//! "connected" or a new primary connection, on the system bus. With no system bus this
//! source ends with an error; the portable one watches on regardless.

use futures_util::StreamExt;
use tokio::sync::mpsc;
use zbus::message::Type;
use zbus::{Connection, MatchRule, MessageStream};

use super::{Event, Source};

/// The system bus.
pub struct Bus;

impl Source for Bus {
    async fn run(self, events: mpsc::Sender<Event>) -> Result<(), String> {
        watch(events).await.map_err(|e| e.to_string())
    }
}

/// `NM_STATE_CONNECTED_GLOBAL`.
const NM_CONNECTED: u32 = 70;

fn rule(interface: &'static str, member: &'static str) -> zbus::Result<MatchRule<'static>> {
    Ok(MatchRule::builder()
        .msg_type(Type::Signal)
        .interface(interface)?
        .member(member)?
        .build())
}

async fn watch(events: mpsc::Sender<Event>) -> zbus::Result<()> {
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

    loop {
        let event = tokio::select! {
            Some(Ok(m)) = sleep.next() => {
                // `true` announces the sleep, `false` the resume.
                matches!(m.body().deserialize::<bool>(), Ok(false)).then_some(Event::Resumed)
            }
            Some(Ok(m)) = state.next() => {
                matches!(m.body().deserialize::<u32>(), Ok(NM_CONNECTED))
                    .then_some(Event::NetworkChanged)
            }
            Some(Ok(m)) = properties.next() => {
                type Changed = (
                    String,
                    std::collections::HashMap<String, zbus::zvariant::OwnedValue>,
                    Vec<String>,
                );
                match m.body().deserialize::<Changed>() {
                    Ok((_, changed, _)) if changed.contains_key("PrimaryConnection") => {
                        Some(Event::NetworkChanged)
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
