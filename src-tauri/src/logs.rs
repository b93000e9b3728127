//! The last few hundred log lines, kept in memory for the settings window's Logs section,
//! fed by a tracing layer next to the usual stderr output.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use socksbridge::sync::lock;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

const CAPACITY: usize = 500;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LogLine {
    /// `HH:MM:SS` (UTC).
    pub time: String,
    /// `ERROR`, `WARN`, `INFO`, `DEBUG` or `TRACE`.
    pub level: String,
    pub message: String,
}

#[derive(Debug, Clone, Default)]
pub struct LogBuffer(Arc<Mutex<VecDeque<LogLine>>>);

impl LogBuffer {
    pub fn push(&self, line: LogLine) {
        let mut lines = lock(&self.0);
        if lines.len() == CAPACITY {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    pub fn lines(&self) -> Vec<LogLine> {
        lock(&self.0).iter().cloned().collect()
    }

    /// The tracing layer that fills this buffer.
    pub fn layer(&self) -> BufferLayer {
        BufferLayer(self.clone())
    }
}

#[derive(Debug)]
pub struct BufferLayer(LogBuffer);

#[derive(Default)]
struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}

fn clock() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60
    )
}

impl<S: Subscriber> Layer<S> for BufferLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut message = Message::default();
        event.record(&mut message);
        self.0.push(LogLine {
            time: clock(),
            level: event.metadata().level().to_string(),
            message: message.0,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn keeps_the_last_lines_with_levels() {
        let buffer = LogBuffer::default();
        let subscriber = tracing_subscriber::registry().with(buffer.layer());
        tracing::subscriber::with_default(subscriber, || {
            for i in 0..(CAPACITY + 5) {
                tracing::info!(peer = "127.0.0.1:1", "line {i}");
            }
            tracing::warn!("last");
        });
        let lines = buffer.lines();
        assert_eq!(lines.len(), CAPACITY);
        assert_eq!(lines[0].message, "line 6 peer=127.0.0.1:1");
        assert_eq!(
            lines.last().map(|l| (l.level.as_str(), l.message.as_str())),
            Some(("WARN", "last"))
        );
    }
}
