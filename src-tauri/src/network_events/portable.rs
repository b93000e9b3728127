//! A watcher that needs nothing from the OS but its clock and its address list, so it runs
//! everywhere (Windows and macOS rely on it): every few seconds it compares
//! - the wall clock with the time it waited: far ahead means the machine slept in between
//!   (the wait itself may or may not count sleep — macOS and Linux stop the monotonic
//!   clock, Windows does not — but either way the wall clock has moved on by the sleep);
//! - the machine's addresses (loopback left out) with the last ones: a new Wi-Fi, a VPN
//!   coming up, a cable pulled.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;

use super::{Event, Source};

/// How often it looks.
const EVERY: Duration = Duration::from_secs(5);
/// How far the wall clock may run ahead of a wait before it counts as a sleep (a busy
/// machine delays a wake-up by far less; a clock set forward by hand also counts, and a
/// refresh too many is harmless).
const SLACK: Duration = Duration::from_secs(20);

pub struct Portable {
    every: Duration,
}

impl Default for Portable {
    fn default() -> Self {
        Portable { every: EVERY }
    }
}

impl Source for Portable {
    async fn run(self, events: mpsc::Sender<Event>) -> Result<(), String> {
        let mut addresses = current_addresses().await?;
        let mut last = SystemTime::now();
        loop {
            tokio::time::sleep(self.every).await;
            let now = SystemTime::now();
            if slept(self.every, now.duration_since(last).ok()) {
                events
                    .send(Event::Resumed)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            last = now;
            // A failed look (rare) is not a change: try again next time.
            if let Ok(now) = current_addresses().await {
                if now != addresses {
                    events
                        .send(Event::NetworkChanged)
                        .await
                        .map_err(|e| e.to_string())?;
                    addresses = now;
                }
            }
        }
    }
}

/// True when the wall clock moved on much more than `waited`: the machine slept. A clock
/// that went backwards (`None`) is not a sleep.
pub fn slept(waited: Duration, wall: Option<Duration>) -> bool {
    wall.is_some_and(|wall| wall > waited + SLACK)
}

/// The addresses that make up "the network" here: loopback left out, IPv6 by its /64
/// network (privacy addresses rotate within it every day or so; a new network brings a new
/// prefix), in a stable order.
pub fn fingerprint(addresses: impl IntoIterator<Item = (String, IpAddr)>) -> Vec<(String, IpAddr)> {
    let mut list: Vec<(String, IpAddr)> = addresses
        .into_iter()
        .filter(|(_, ip)| !ip.is_loopback())
        .map(|(name, ip)| match ip {
            IpAddr::V6(v6) => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                (name, IpAddr::V6(prefix.into()))
            }
            v4 => (name, v4),
        })
        .collect();
    list.sort();
    list.dedup();
    list
}

async fn current_addresses() -> Result<Vec<(String, IpAddr)>, String> {
    let interfaces = tokio::task::spawn_blocking(if_addrs::get_if_addrs)
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("cannot list the network addresses: {e}"))?;
    Ok(fingerprint(interfaces.into_iter().map(|i| {
        let ip = i.ip();
        (i.name, ip)
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sleep_is_the_wall_clock_far_ahead_of_the_wait() {
        let five = Duration::from_secs(5);
        let table = [
            (Some(Duration::from_secs(5)), false),
            (Some(Duration::from_secs(24)), false),
            (Some(Duration::from_secs(26)), true),
            (Some(Duration::from_secs(3 * 3600)), true),
            (Some(Duration::ZERO), false),
            (None, false),
        ];
        for (wall, expected) in table {
            assert_eq!(slept(five, wall), expected, "{wall:?}");
        }
    }

    #[test]
    fn the_network_is_the_non_loopback_addresses_in_order() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let a = fingerprint([
            ("wlan0".to_string(), ip("192.168.1.7")),
            ("lo".to_string(), ip("127.0.0.1")),
            ("lo".to_string(), ip("::1")),
            ("eth0".to_string(), ip("10.0.0.2")),
        ]);
        assert_eq!(
            a,
            [
                ("eth0".to_string(), ip("10.0.0.2")),
                ("wlan0".to_string(), ip("192.168.1.7"))
            ]
        );
        let same_in_another_order = fingerprint([
            ("eth0".to_string(), ip("10.0.0.2")),
            ("wlan0".to_string(), ip("192.168.1.7")),
        ]);
        assert_eq!(a, same_in_another_order);
        let new_wifi = fingerprint([
            ("eth0".to_string(), ip("10.0.0.2")),
            ("wlan0".to_string(), ip("172.20.1.9")),
        ]);
        assert_ne!(a, new_wifi);
        // An IPv6 privacy address rotating within its network is no change; a new prefix is.
        let v6 = |addr: &str| fingerprint([("wlan0".to_string(), ip(addr))]);
        assert_eq!(v6("2001:db8:1:2::1234"), v6("2001:db8:1:2:abcd::9"));
        assert_ne!(v6("2001:db8:1:2::1234"), v6("2001:db8:1:3::1234"));
    }

    #[tokio::test]
    async fn on_a_quiet_machine_it_reports_nothing() {
        let (events, mut received) = mpsc::channel(4);
        let watching = tokio::spawn(
            Portable {
                every: Duration::from_millis(50),
            }
            .run(events),
        );
        // Ten looks at this machine's real address list and clock: no change, no sleep.
        let quiet = tokio::time::timeout(Duration::from_millis(500), received.recv()).await;
        assert!(quiet.is_err(), "{quiet:?}");
        watching.abort();
    }
}
