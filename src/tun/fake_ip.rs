//! The fake-IP pool: every name an app looks up gets a synthetic address (one IPv4 from
//! 198.18.0.0/15, the benchmarking range no real host uses, and its IPv6 twin in the same
//! slot), and a connection to that address is turned back into the name — so the SOCKS
//! server resolves it, as `socks5h://` does for apps that speak to the proxy.
//!
//! The pool is bounded: once every slot is taken, the name looked up least recently gives
//! its slot to the new one. Looking a name up again refreshes it, so a name in use keeps
//! its address for as long as apps keep asking for it.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use ipnet::{Ipv4Net, Ipv6Net};

/// Slots at the start of the range kept for the TUN device and its DNS address.
pub const RESERVED: u32 = 4;

/// The default IPv4 range: RFC 2544's benchmarking block, never a real destination.
pub fn default_v4() -> Ipv4Net {
    Ipv4Net::new(Ipv4Addr::new(198, 18, 0, 0), 15).expect("a valid prefix")
}

/// The default IPv6 range: a unique-local /96 (RFC 4193) whose last 32 bits mirror the
/// IPv4 slot.
pub fn default_v6() -> Ipv6Net {
    Ipv6Net::new(Ipv6Addr::new(0xfd00, 0x1095, 0, 0, 0, 0, 0, 0), 96).expect("a valid prefix")
}

/// A name's slot, and when it was last looked up.
#[derive(Debug)]
struct Entry {
    name: Arc<str>,
    used: u64,
}

/// Names ↔ synthetic addresses, both ways, bounded.
#[derive(Debug)]
pub struct FakeIpPool {
    v4: Ipv4Net,
    v6: Ipv6Net,
    /// Slots handed out so far (slot numbers start at [`RESERVED`]).
    capacity: u32,
    by_name: HashMap<Arc<str>, u32>,
    by_slot: HashMap<u32, Entry>,
    /// Slots by last use, oldest first: the next one to recycle.
    by_use: BTreeMap<u64, u32>,
    clock: u64,
}

impl FakeIpPool {
    /// A pool over `v4` (and the same slots in `v6`); the first [`RESERVED`] addresses are
    /// never handed out. `v4` must hold more than that.
    pub fn new(v4: Ipv4Net, v6: Ipv6Net) -> FakeIpPool {
        let size = 1u64 << (32 - v4.prefix_len());
        let v6_size = 1u128 << (128 - v6.prefix_len()).min(127);
        let capacity = size.min(u64::from(u32::MAX)).min(v6_size as u64) as u32;
        FakeIpPool {
            v4,
            v6,
            capacity: capacity.saturating_sub(RESERVED),
            by_name: HashMap::new(),
            by_slot: HashMap::new(),
            by_use: BTreeMap::new(),
            clock: 0,
        }
    }

    /// The synthetic addresses for `name` (case and a trailing dot do not matter): the
    /// same ones as last time while the name holds its slot.
    pub fn lookup(&mut self, name: &str) -> (Ipv4Addr, Ipv6Addr) {
        let name = normalise(name);
        self.clock += 1;
        let slot = match self.by_name.get(name.as_str()) {
            Some(&slot) => {
                let entry = self.by_slot.get_mut(&slot).expect("both maps agree");
                self.by_use.remove(&entry.used);
                entry.used = self.clock;
                slot
            }
            None => {
                let slot = self.free_slot();
                let name: Arc<str> = name.into();
                self.by_name.insert(Arc::clone(&name), slot);
                let used = self.clock;
                self.by_slot.insert(slot, Entry { name, used });
                slot
            }
        };
        self.by_use.insert(self.clock, slot);
        self.addresses(slot)
    }

    /// The name behind a synthetic address, if it is one this pool handed out.
    pub fn name_of(&self, ip: IpAddr) -> Option<Arc<str>> {
        let slot = self.slot_of(ip)?;
        self.by_slot.get(&slot).map(|entry| Arc::clone(&entry.name))
    }

    /// True for any address inside the pool's ranges, handed out or not: traffic to one
    /// that maps to no name is for a name forgotten (after a restart) and must not be
    /// dialled as an IP.
    pub fn covers(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(v4) => self.v4.contains(&v4),
            IpAddr::V6(v6) => self.v6.contains(&v6),
        }
    }

    /// How many names hold a slot.
    pub fn len(&self) -> usize {
        self.by_slot.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_slot.is_empty()
    }

    fn free_slot(&mut self) -> u32 {
        let taken = self.by_slot.len() as u32;
        if taken < self.capacity {
            return RESERVED + taken;
        }
        let (_, slot) = self.by_use.pop_first().expect("a full pool has entries");
        let old = self.by_slot.remove(&slot).expect("both maps agree");
        self.by_name.remove(&old.name);
        slot
    }

    fn addresses(&self, slot: u32) -> (Ipv4Addr, Ipv6Addr) {
        let v4 = Ipv4Addr::from(u32::from(self.v4.network()) + slot);
        let v6 = Ipv6Addr::from(u128::from(self.v6.network()) + u128::from(slot));
        (v4, v6)
    }

    fn slot_of(&self, ip: IpAddr) -> Option<u32> {
        let slot = match ip {
            IpAddr::V4(v4) if self.v4.contains(&v4) => u32::from(v4) - u32::from(self.v4.network()),
            IpAddr::V6(v6) if self.v6.contains(&v6) => {
                u32::try_from(u128::from(v6) - u128::from(self.v6.network())).ok()?
            }
            _ => return None,
        };
        (RESERVED..RESERVED + self.capacity)
            .contains(&slot)
            .then_some(slot)
    }
}

/// `Example.COM.` → `example.com`.
fn normalise(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(prefix: u8) -> FakeIpPool {
        FakeIpPool::new(
            Ipv4Net::new(Ipv4Addr::new(198, 18, 0, 0), prefix).unwrap(),
            default_v6(),
        )
    }

    #[test]
    fn a_name_keeps_its_addresses_and_maps_back() {
        let mut pool = FakeIpPool::new(default_v4(), default_v6());
        let (v4, v6) = pool.lookup("Example.COM.");
        assert_eq!(v4, Ipv4Addr::new(198, 18, 0, 4));
        assert_eq!(v6, "fd00:1095::4".parse::<Ipv6Addr>().unwrap());
        assert_eq!(pool.lookup("example.com"), (v4, v6));
        assert_eq!(pool.name_of(v4.into()).as_deref(), Some("example.com"));
        assert_eq!(pool.name_of(v6.into()).as_deref(), Some("example.com"));
        let (other, _) = pool.lookup("example.org");
        assert_eq!(other, Ipv4Addr::new(198, 18, 0, 5));
        assert_eq!(pool.len(), 2);
    }

    #[test]
    fn addresses_outside_or_reserved_or_unused_map_to_no_name() {
        let mut pool = FakeIpPool::new(default_v4(), default_v6());
        pool.lookup("example.com");
        let table: [(&str, bool, bool); 6] = [
            // address, inside the ranges, has a name
            ("198.18.0.4", true, true),
            ("198.18.0.1", true, false),
            ("198.19.255.255", true, false),
            ("198.20.0.4", false, false),
            ("203.0.113.7", false, false),
            ("fd00:1095::1:4", true, false),
        ];
        for (ip, covered, named) in table {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(pool.covers(ip), covered, "{ip}");
            assert_eq!(pool.name_of(ip).is_some(), named, "{ip}");
        }
    }

    #[test]
    fn a_full_pool_recycles_the_name_looked_up_least_recently() {
        // A /29: 8 addresses, 4 reserved, 4 slots.
        let mut pool = small(29);
        for name in ["a.test", "b.test", "c.test", "d.test"] {
            pool.lookup(name);
        }
        // a.test is asked again, so b.test is now the oldest.
        let (a, _) = pool.lookup("a.test");
        let (b, _) = pool.lookup("b.test");
        pool.lookup("b.test");
        let (e, _) = pool.lookup("e.test");
        assert_eq!(pool.len(), 4);
        assert_eq!(e, Ipv4Addr::new(198, 18, 0, 6), "c.test's slot");
        assert_eq!(pool.name_of(e.into()).as_deref(), Some("e.test"));
        assert_eq!(pool.lookup("a.test").0, a);
        assert_eq!(pool.lookup("b.test").0, b);
        // c.test comes back with a fresh slot (d.test's, the oldest now).
        assert_eq!(pool.lookup("c.test").0, Ipv4Addr::new(198, 18, 0, 7));
        assert_eq!(
            pool.name_of(Ipv4Addr::new(198, 18, 0, 7).into()).as_deref(),
            Some("c.test")
        );
    }

    #[test]
    fn memory_stays_bounded_under_many_names() {
        let mut pool = small(24);
        for i in 0..10_000 {
            pool.lookup(&format!("host{i}.test"));
        }
        assert_eq!(pool.len(), 252);
        assert_eq!(pool.by_name.len(), 252);
        assert_eq!(pool.by_use.len(), 252);
    }
}
