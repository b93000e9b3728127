//! A tray host on a test's private session bus: `org.kde.StatusNotifierWatcher` as KDE's
//! and the AppIndicator extension's serve it (the protocol freedesktop's
//! StatusNotifierItem draft describes), recording the items that register. Dropping it
//! leaves the bus, as a panel that quits does.

use std::sync::{Arc, Mutex};

use zbus::object_server::SignalEmitter;

pub const NAME: &str = "org.kde.StatusNotifierWatcher";

struct Host {
    items: Arc<Mutex<Vec<String>>>,
}

#[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
impl Host {
    async fn register_status_notifier_item(
        &self,
        service: String,
        #[zbus(header)] header: zbus::message::Header<'_>,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) {
        // An item names its object path or its bus name; either way it lives at its sender.
        let sender = header.sender().map(|s| s.to_string()).unwrap_or_default();
        let item = if service.starts_with('/') {
            format!("{sender}{service}")
        } else {
            service
        };
        self.items.lock().unwrap().push(item.clone());
        let _ = Self::status_notifier_item_registered(&emitter, &item).await;
    }

    fn register_status_notifier_host(&self, _service: String) {}

    #[zbus(property)]
    fn registered_status_notifier_items(&self) -> Vec<String> {
        self.items.lock().unwrap().clone()
    }

    #[zbus(property)]
    fn is_status_notifier_host_registered(&self) -> bool {
        true
    }

    #[zbus(property)]
    fn protocol_version(&self) -> i32 {
        0
    }

    #[zbus(signal)]
    async fn status_notifier_item_registered(
        emitter: &SignalEmitter<'_>,
        service: &str,
    ) -> zbus::Result<()>;
}

pub struct Watcher {
    items: Arc<Mutex<Vec<String>>>,
    runtime: Option<tokio::runtime::Runtime>,
    connection: Option<zbus::Connection>,
}

impl Watcher {
    /// Owns the watcher's name on the bus at `address` until dropped.
    pub fn start(address: &str) -> Watcher {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let items = Arc::new(Mutex::new(Vec::new()));
        let host = Host {
            items: Arc::clone(&items),
        };
        let connection = runtime
            .block_on(async {
                zbus::connection::Builder::address(address)?
                    .name(NAME)?
                    .serve_at("/StatusNotifierWatcher", host)?
                    .build()
                    .await
            })
            .expect("the tray host takes its name on the test's bus");
        Watcher {
            items,
            runtime: Some(runtime),
            connection: Some(connection),
        }
    }

    /// The items registered so far.
    pub fn items(&self) -> Vec<String> {
        self.items.lock().unwrap().clone()
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        if let (Some(runtime), Some(connection)) = (self.runtime.take(), self.connection.take()) {
            runtime.block_on(async move { drop(connection) });
            runtime.shutdown_background();
        }
    }
}
