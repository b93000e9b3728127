//! When to leave a failing server and when to come back, as a pure state machine fed with
//! check results and the time: no I/O, so the rules are tested as tables.
//!
//! The server in use is left after `failures` consecutive failed checks, for the next
//! server in list order that answers a check. The user's chosen server is taken back
//! (when `switch_back` is on) after [`RECOVERY_CHECKS`] good checks in a row. No switch of
//! either kind happens within `hold_down` of the last one, so a server that comes and
//! goes cannot make the proxy flap.

use std::time::{Duration, Instant};

use crate::config::FailoverConfig;

/// Good checks in a row before the chosen server is trusted again.
pub const RECOVERY_CHECKS: u32 = 2;

/// The rules, from [`FailoverConfig`] and the length of the server list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    pub enabled: bool,
    pub switch_back: bool,
    pub failures: u32,
    pub hold_down: Duration,
    pub servers: usize,
}

impl Rules {
    pub fn new(config: &FailoverConfig, servers: usize) -> Rules {
        Rules {
            enabled: config.enabled,
            switch_back: config.switch_back,
            failures: config.failures,
            hold_down: config.hold_down,
            servers,
        }
    }

    fn active(&self) -> bool {
        self.enabled && self.servers > 1
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failover {
    rules: Rules,
    /// The user's choice.
    preferred: usize,
    /// The server traffic goes through.
    current: usize,
    /// Consecutive failed checks of `current`.
    failures: u32,
    /// Consecutive good checks of `preferred` while another is in use.
    recovered: u32,
    last_switch: Option<Instant>,
}

impl Failover {
    /// The policy for a round of checks; `last_switch` carries the hold-down over from an
    /// earlier round (new settings restart the checks, not the clock).
    pub fn new(
        rules: Rules,
        preferred: usize,
        current: usize,
        last_switch: Option<Instant>,
    ) -> Failover {
        Failover {
            rules,
            preferred,
            current,
            failures: 0,
            recovered: 0,
            last_switch,
        }
    }

    pub fn current(&self) -> usize {
        self.current
    }

    pub fn preferred(&self) -> usize {
        self.preferred
    }

    /// Records a check of the server in use; true when the others should be tried now.
    pub fn current_checked(&mut self, ok: bool, now: Instant) -> bool {
        if ok {
            self.failures = 0;
            return false;
        }
        self.failures = self.failures.saturating_add(1);
        self.rules.active() && self.failures >= self.rules.failures && self.settled(now)
    }

    /// The servers to try instead of the one in use, in list order after it.
    pub fn candidates(&self) -> impl Iterator<Item = usize> {
        let (current, count) = (self.current, self.rules.servers);
        (current + 1..count).chain(0..current.min(count))
    }

    /// True when the chosen server should be checked, to go back to it.
    pub fn watching_preferred(&self) -> bool {
        self.rules.active() && self.rules.switch_back && self.current != self.preferred
    }

    /// Records a check of the chosen server while another is in use; true when it is
    /// time to go back.
    pub fn preferred_checked(&mut self, ok: bool, now: Instant) -> bool {
        if !ok {
            self.recovered = 0;
            return false;
        }
        self.recovered = self.recovered.saturating_add(1);
        self.watching_preferred() && self.recovered >= RECOVERY_CHECKS && self.settled(now)
    }

    /// Traffic now goes through `to`.
    pub fn switched(&mut self, to: usize, now: Instant) {
        self.current = to;
        self.failures = 0;
        self.recovered = 0;
        self.last_switch = Some(now);
    }

    /// No switch within the hold-down time of the last one.
    fn settled(&self, now: Instant) -> bool {
        self.last_switch
            .is_none_or(|at| now.saturating_duration_since(at) >= self.rules.hold_down)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOLD: Duration = Duration::from_secs(10);

    fn rules(servers: usize) -> Rules {
        Rules {
            enabled: true,
            switch_back: true,
            failures: 3,
            hold_down: HOLD,
            servers,
        }
    }

    #[test]
    fn leaves_after_n_consecutive_failures_only() {
        let t0 = Instant::now();
        let mut f = Failover::new(rules(3), 0, 0, None);
        let results = [false, false, true, false, false, false];
        let decisions: Vec<bool> = results
            .iter()
            .map(|ok| f.current_checked(*ok, t0))
            .collect();
        assert_eq!(decisions, [false, false, false, false, false, true]);
        assert!(f.current_checked(false, t0), "still failing: keep trying");
    }

    #[test]
    fn candidates_follow_the_list_after_the_one_in_use() {
        let table = [
            (3, 0, vec![1, 2]),
            (3, 1, vec![2, 0]),
            (3, 2, vec![0, 1]),
            (1, 0, vec![]),
            (4, 3, vec![0, 1, 2]),
        ];
        for (servers, current, expected) in table {
            let f = Failover::new(rules(servers), 0, current, None);
            assert_eq!(
                f.candidates().collect::<Vec<_>>(),
                expected,
                "{servers} {current}"
            );
        }
    }

    #[test]
    fn the_chosen_server_may_be_anywhere_in_the_list() {
        let t0 = Instant::now();
        let mut f = Failover::new(rules(3), 2, 0, None);
        assert_eq!(f.preferred(), 2);
        assert!(f.watching_preferred());
        assert!(!f.preferred_checked(true, t0));
        assert!(f.preferred_checked(true, t0));
        f.switched(2, t0);
        assert!(!f.watching_preferred());
    }

    #[test]
    fn the_hold_down_carries_over_into_a_new_round() {
        let t0 = Instant::now();
        let mut f = Failover::new(rules(2), 0, 1, Some(t0));
        assert!(!f.preferred_checked(true, t0 + HOLD / 2));
        assert!(!f.preferred_checked(true, t0 + HOLD / 2));
        assert!(f.preferred_checked(true, t0 + HOLD));
    }

    #[test]
    fn never_switches_within_the_hold_down() {
        let t0 = Instant::now();
        let mut f = Failover::new(rules(2), 0, 0, None);
        f.switched(1, t0);
        for _ in 0..5 {
            assert!(!f.current_checked(false, t0 + HOLD / 2));
        }
        assert!(f.current_checked(false, t0 + HOLD), "hold-down over");
        let mut f = Failover::new(rules(2), 0, 0, None);
        f.switched(1, t0);
        assert!(!f.preferred_checked(true, t0));
        assert!(!f.preferred_checked(true, t0 + HOLD - Duration::from_millis(1)));
        assert!(f.preferred_checked(true, t0 + HOLD));
    }

    #[test]
    fn goes_back_after_recovery_checks_in_a_row_when_asked() {
        let t0 = Instant::now();
        let later = t0 + HOLD * 2;
        let mut f = Failover::new(rules(3), 0, 0, None);
        assert!(!f.watching_preferred());
        f.switched(2, t0);
        assert!(f.watching_preferred());
        assert_eq!(f.current(), 2);
        assert!(!f.preferred_checked(true, later));
        assert!(
            !f.preferred_checked(false, later),
            "a failure resets the count"
        );
        assert!(!f.preferred_checked(true, later));
        assert!(f.preferred_checked(true, later));
        f.switched(0, later);
        assert!(!f.watching_preferred());
        assert_eq!(f.preferred(), 0);

        let mut stay = Failover::new(
            Rules {
                switch_back: false,
                ..rules(3)
            },
            0,
            0,
            None,
        );
        stay.switched(1, t0);
        assert!(!stay.watching_preferred());
        assert!(!stay.preferred_checked(true, later) && !stay.preferred_checked(true, later));
    }

    #[test]
    fn disabled_or_alone_never_switches() {
        let t0 = Instant::now();
        for r in [
            Rules {
                enabled: false,
                ..rules(3)
            },
            rules(1),
        ] {
            let mut f = Failover::new(r, 0, 0, None);
            assert!((0..10).all(|_| !f.current_checked(false, t0)), "{r:?}");
        }
        let mut one = Failover::new(
            Rules {
                failures: 1,
                ..rules(2)
            },
            0,
            0,
            None,
        );
        assert!(one.current_checked(false, t0));
    }
}
