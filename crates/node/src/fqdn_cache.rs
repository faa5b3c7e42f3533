//! The FQDN cache: name → addresses learned from snooped DNS answers, each address valid until
//! `learned + max(record TTL, fqdnCacheMinTTL)` (Antrea's `fqdnCacheMinTTL`, 0 by default).
//! A newer answer extends an address's lifetime, never shortens it; addresses of a name that a
//! newer answer does not repeat stay until they expire. At most `max_names` names are kept
//! (Antrea caps wildcard-matched names at 10,000): learning one more evicts the name learned
//! least recently. Names are lower case, without the trailing dot.
//!
//! Changes (a name gained or lost an address, or went away) are collected until
//! [`FqdnCache::take_changes`], which is what is fed to the policy engine.

use crate::dns_answer::Mapping;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Knobs of the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FqdnCacheOptions {
    /// Lower bound of an address's lifetime (Antrea's `fqdnCacheMinTTL`).
    pub min_ttl: Duration,
    /// Names kept at most.
    pub max_names: usize,
}

impl Default for FqdnCacheOptions {
    fn default() -> Self {
        FqdnCacheOptions {
            min_ttl: Duration::ZERO,
            max_names: 10_000,
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    /// Address → when it expires.
    addrs: BTreeMap<IpAddr, Instant>,
    /// Learning order (larger = more recent), for eviction.
    learned: u64,
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct FqdnCache {
    options: FqdnCacheOptions,
    names: BTreeMap<String, Entry>,
    changed: BTreeSet<String>,
    clock: u64,
}

/// One change of the cache: a name's addresses now (empty: the name is gone).
pub type FqdnChange = (String, Vec<IpAddr>);

impl FqdnCache {
    pub fn new(options: FqdnCacheOptions) -> Self {
        FqdnCache {
            options,
            names: BTreeMap::new(),
            changed: BTreeSet::new(),
            clock: 0,
        }
    }

    pub fn options(&self) -> FqdnCacheOptions {
        self.options
    }

    /// New knobs, for what is learned from now on (and, for `max_names`, the next name).
    pub fn set_options(&mut self, options: FqdnCacheOptions) {
        self.options = options;
    }

    /// Learns one mapping at `now`.
    pub fn learn(&mut self, mapping: &Mapping, now: Instant) {
        let lifetime = Duration::from_secs(u64::from(mapping.ttl)).max(self.options.min_ttl);
        let expires = now + lifetime;
        let name = mapping.name.trim_end_matches('.').to_ascii_lowercase();
        self.clock += 1;
        if !self.names.contains_key(&name) {
            self.make_room();
        }
        let entry = self.names.entry(name.clone()).or_insert_with(|| Entry {
            addrs: BTreeMap::new(),
            learned: 0,
        });
        entry.learned = self.clock;
        match entry.addrs.get_mut(&mapping.ip) {
            Some(at) => {
                if *at < expires {
                    *at = expires;
                }
            }
            None => {
                entry.addrs.insert(mapping.ip, expires);
                self.changed.insert(name);
            }
        }
    }

    /// Learns every mapping of one answer.
    pub fn learn_all(&mut self, mappings: &[Mapping], now: Instant) {
        for m in mappings {
            self.learn(m, now);
        }
    }

    fn make_room(&mut self) {
        while self.names.len() >= self.options.max_names.max(1) {
            let Some(oldest) = self
                .names
                .iter()
                .min_by_key(|(_, e)| e.learned)
                .map(|(n, _)| n.clone())
            else {
                return;
            };
            self.names.remove(&oldest);
            self.changed.insert(oldest);
        }
    }

    /// Drops the addresses that expired by `now` (and names left without any).
    pub fn expire(&mut self, now: Instant) {
        let mut gone = Vec::new();
        for (name, entry) in &mut self.names {
            let before = entry.addrs.len();
            entry.addrs.retain(|_, at| *at > now);
            if entry.addrs.len() != before {
                self.changed.insert(name.clone());
            }
            if entry.addrs.is_empty() {
                gone.push(name.clone());
            }
        }
        for name in gone {
            self.names.remove(&name);
        }
    }

    /// When the next address expires.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.names
            .values()
            .flat_map(|e| e.addrs.values().copied())
            .min()
    }

    /// The addresses of a name (sorted; empty if unknown).
    pub fn addresses(&self, name: &str) -> Vec<IpAddr> {
        self.names
            .get(&name.trim_end_matches('.').to_ascii_lowercase())
            .map(|e| e.addrs.keys().copied().collect())
            .unwrap_or_default()
    }

    /// Every name with its addresses, in name order.
    pub fn mappings(&self) -> Vec<FqdnChange> {
        self.names
            .iter()
            .map(|(n, e)| (n.clone(), e.addrs.keys().copied().collect()))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The names changed since the last call, with their addresses now (empty: gone).
    pub fn take_changes(&mut self) -> Vec<FqdnChange> {
        std::mem::take(&mut self.changed)
            .into_iter()
            .map(|n| {
                let addrs = self.addresses(&n);
                (n, addrs)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, ip: &str, ttl: u32) -> Mapping {
        Mapping {
            name: name.into(),
            ip: ip.parse().unwrap(),
            ttl,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn addresses_live_for_the_ttl_and_report_their_changes() {
        let t0 = Instant::now();
        let mut c = FqdnCache::new(FqdnCacheOptions::default());
        c.learn(&m("Db.Example.test.", "192.0.2.1", 5), t0);
        c.learn(&m("db.example.test", "192.0.2.2", 10), t0);
        assert_eq!(
            c.addresses("db.example.test"),
            vec![ip("192.0.2.1"), ip("192.0.2.2")]
        );
        assert_eq!(
            c.take_changes(),
            vec![(
                "db.example.test".into(),
                vec![ip("192.0.2.1"), ip("192.0.2.2")]
            )]
        );
        assert!(c.take_changes().is_empty());
        // The same answer again: no change, only a longer life.
        c.learn(
            &m("db.example.test", "192.0.2.1", 5),
            t0 + Duration::from_secs(3),
        );
        assert!(c.take_changes().is_empty());
        c.expire(t0 + Duration::from_secs(6));
        assert_eq!(c.addresses("db.example.test").len(), 2, "extended to t0+8s");
        c.expire(t0 + Duration::from_secs(8));
        assert_eq!(c.addresses("db.example.test"), vec![ip("192.0.2.2")]);
        assert_eq!(
            c.take_changes(),
            vec![("db.example.test".into(), vec![ip("192.0.2.2")])]
        );
        assert_eq!(c.next_expiry(), Some(t0 + Duration::from_secs(10)));
        c.expire(t0 + Duration::from_secs(10));
        assert!(c.is_empty());
        assert_eq!(c.take_changes(), vec![("db.example.test".into(), vec![])]);
        assert_eq!(c.next_expiry(), None);
    }

    #[test]
    fn the_minimum_ttl_is_a_lower_bound() {
        let t0 = Instant::now();
        let mut c = FqdnCache::new(FqdnCacheOptions {
            min_ttl: Duration::from_secs(60),
            ..Default::default()
        });
        c.learn(&m("a.test", "192.0.2.1", 1), t0);
        c.learn(&m("b.test", "192.0.2.2", 120), t0);
        c.expire(t0 + Duration::from_secs(59));
        assert_eq!(c.len(), 2);
        c.expire(t0 + Duration::from_secs(60));
        assert_eq!(c.mappings(), vec![("b.test".into(), vec![ip("192.0.2.2")])]);
    }

    #[test]
    fn the_name_learned_least_recently_is_evicted_first() {
        let t0 = Instant::now();
        let mut c = FqdnCache::new(FqdnCacheOptions {
            max_names: 2,
            ..Default::default()
        });
        c.learn(&m("a.test", "192.0.2.1", 30), t0);
        c.learn(&m("b.test", "192.0.2.2", 30), t0);
        c.learn(&m("a.test", "192.0.2.1", 30), t0); // a is now more recent than b
        c.take_changes();
        c.learn(&m("c.test", "192.0.2.3", 30), t0);
        let names: Vec<String> = c.mappings().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, vec!["a.test", "c.test"]);
        assert_eq!(
            c.take_changes(),
            vec![
                ("b.test".into(), vec![]),
                ("c.test".into(), vec![ip("192.0.2.3")])
            ]
        );
    }
}
