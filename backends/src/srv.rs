//! DNS SRV discovery of directory servers (RFC 2782): the domain
//! controllers an Active Directory publishes as `_ldap._tcp.<domain>`.
//!
//! Only targets inside the domain are used (`dc1.ad.example.com` for
//! `ad.example.com`): DNS answers are not authenticated, and a forged one
//! naming any host with a certificate for its own name would otherwise
//! receive the users' passwords.
//!
//! A lookup is kept for the records' TTL (at least [`MIN_KEEP`], at most
//! [`MAX_KEEP`]); when a new lookup fails, the last answer is used until one
//! succeeds, so a DNS hiccup does not stop the logins.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{LookupIpStrategy, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;

/// The shortest time an answer is kept, whatever its TTL.
pub const MIN_KEEP: Duration = Duration::from_secs(30);
/// The longest time an answer is kept.
pub const MAX_KEEP: Duration = Duration::from_secs(3600);
/// How many targets are taken from one answer.
const MAX_TARGETS: usize = 32;

/// One server an SRV record names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The host name, without the final dot.
    pub host: String,
    pub port: u16,
    /// Its address, when looked up with the configured name servers (the
    /// system's resolver may not know the domain's names); `None` leaves
    /// the host name to the system's resolver.
    pub address: Option<IpAddr>,
}

/// An SRV record's fields, as ordered by [`order`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    pub host: String,
}

/// The records in the order RFC 2782 tries them: lower priority first;
/// within a priority, a weighted random order (`pick(n)` returns a number
/// in `0..=n`). A lone target "." means the service is not offered.
pub fn order(mut records: Vec<Record>, mut pick: impl FnMut(u32) -> u32) -> Vec<Record> {
    records.retain(|r| !r.host.is_empty() && r.host != ".");
    records.sort_by_key(|r| r.priority);
    let mut ordered = Vec::with_capacity(records.len());
    let mut rest = records.as_slice();
    while let Some(first) = rest.first() {
        let same = rest
            .iter()
            .take_while(|r| r.priority == first.priority)
            .count();
        let (group, tail) = rest.split_at(same);
        // Zero weights first, as the RFC says, so that they keep a small
        // chance of being picked.
        let mut group: Vec<Record> = group.to_vec();
        group.sort_by_key(|r| r.weight != 0);
        while !group.is_empty() {
            let total: u32 = group.iter().map(|r| u32::from(r.weight)).sum();
            let chosen = pick(total).min(total);
            let mut running = 0;
            let index = group
                .iter()
                .position(|r| {
                    running += u32::from(r.weight);
                    running >= chosen
                })
                .unwrap_or(0);
            ordered.push(group.remove(index));
        }
        rest = tail;
    }
    ordered
}

/// Looks up `_ldap._tcp.<domain>` and keeps the answer.
pub struct SrvDiscovery {
    /// The name asked, fully qualified.
    name: String,
    /// The domain, lower-case, without the final dot: targets must be in it.
    domain: String,
    resolver: TokioResolver,
    /// Whether targets are looked up with the configured name servers.
    resolve_targets: bool,
    kept: parking_lot::Mutex<Option<Kept>>,
    /// One lookup at a time; the others wait for its answer.
    looking_up: tokio::sync::Mutex<()>,
}

struct Kept {
    fresh_until: Instant,
    targets: Arc<Vec<Target>>,
}

impl std::fmt::Debug for SrvDiscovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SrvDiscovery")
            .field("name", &self.name)
            .finish()
    }
}

impl SrvDiscovery {
    /// Discovery for `domain`, asking `nameservers` (host:port), or the
    /// system's resolver (`/etc/resolv.conf`) when there are none.
    pub fn new(
        domain: &str,
        nameservers: &[SocketAddr],
        timeout: Duration,
    ) -> Result<Self, String> {
        let provider = TokioRuntimeProvider::default();
        let mut builder = if nameservers.is_empty() {
            TokioResolver::builder(provider)
                .map_err(|e| format!("the system's DNS configuration cannot be read: {e}"))?
        } else {
            let servers = nameservers
                .iter()
                .map(|addr| {
                    let mut server = NameServerConfig::udp_and_tcp(addr.ip());
                    for connection in &mut server.connections {
                        connection.port = addr.port();
                    }
                    server
                })
                .collect();
            TokioResolver::builder_with_config(ResolverConfig::from_name_servers(servers), provider)
        };
        let options = builder.options_mut();
        options.timeout = timeout;
        options.attempts = 1;
        // An address for each target: IPv4 first, IPv6 when it has none (a
        // parallel query fails as a whole when either kind is missing).
        options.ip_strategy = LookupIpStrategy::Ipv4thenIpv6;
        let resolver = builder
            .build()
            .map_err(|e| format!("the DNS resolver cannot be built: {e}"))?;
        let domain = domain.trim_end_matches('.');
        Ok(SrvDiscovery {
            name: format!("_ldap._tcp.{domain}."),
            domain: domain.to_ascii_lowercase(),
            resolver,
            resolve_targets: !nameservers.is_empty(),
            kept: parking_lot::Mutex::new(None),
            looking_up: tokio::sync::Mutex::new(()),
        })
    }

    /// The name looked up (`_ldap._tcp.ad.example.com`).
    pub fn name(&self) -> &str {
        self.name.trim_end_matches('.')
    }

    /// The targets, in the order they are tried: the kept answer while it is
    /// fresh, else a new lookup; the last answer when that lookup fails.
    pub async fn targets(&self) -> Result<Arc<Vec<Target>>, String> {
        if let Some(targets) = self.fresh() {
            return Ok(targets);
        }
        let _one = self.looking_up.lock().await;
        // Another task may have looked up while this one waited.
        if let Some(targets) = self.fresh() {
            return Ok(targets);
        }
        match self.look_up().await {
            Ok((targets, ttl)) => {
                let targets = Arc::new(targets);
                let keep = ttl.clamp(MIN_KEEP, MAX_KEEP);
                let mut kept = self.kept.lock();
                let changed = kept.as_ref().is_none_or(|k| k.targets != targets);
                if changed {
                    let list: Vec<String> = targets
                        .iter()
                        .map(|t| format!("{}:{}", t.host, t.port))
                        .collect();
                    tracing::info!(name = %self.name(), servers = ?list, "LDAP servers discovered");
                }
                *kept = Some(Kept {
                    fresh_until: Instant::now() + keep,
                    targets: targets.clone(),
                });
                Ok(targets)
            }
            Err(why) => {
                let mut kept = self.kept.lock();
                match kept.as_mut() {
                    Some(k) => {
                        tracing::warn!(name = %self.name(), error = %why, "DNS SRV lookup failed: the last answer is used");
                        // Asked again after the shortest keep, not at
                        // every login.
                        k.fresh_until = Instant::now() + MIN_KEEP;
                        Ok(k.targets.clone())
                    }
                    None => Err(why),
                }
            }
        }
    }

    fn fresh(&self) -> Option<Arc<Vec<Target>>> {
        let kept = self.kept.lock();
        kept.as_ref()
            .filter(|k| k.fresh_until > Instant::now())
            .map(|k| k.targets.clone())
    }

    async fn look_up(&self) -> Result<(Vec<Target>, Duration), String> {
        let answer = self
            .resolver
            .srv_lookup(self.name.as_str())
            .await
            .map_err(|e| format!("DNS SRV lookup of {} failed: {e}", self.name()))?;
        let mut ttl = u32::MAX;
        let mut records = Vec::new();
        for record in answer.answers() {
            if let RData::SRV(srv) = &record.data {
                ttl = ttl.min(record.ttl);
                records.push(Record {
                    priority: srv.priority,
                    weight: srv.weight,
                    port: srv.port,
                    host: srv.target.to_ascii().trim_end_matches('.').to_owned(),
                });
            }
        }
        let (inside, outside): (Vec<Record>, Vec<Record>) = records
            .into_iter()
            .partition(|r| in_domain(&r.host, &self.domain));
        for record in &outside {
            tracing::warn!(name = %self.name(), host = %record.host, "a discovered LDAP server outside the domain: left out");
        }
        let ordered = order(inside, random_upto);
        if ordered.is_empty() {
            return Err(format!("DNS SRV lookup of {}: no server", self.name()));
        }
        let mut targets = Vec::new();
        for record in ordered.into_iter().take(MAX_TARGETS) {
            let address = if self.resolve_targets {
                match self.resolver.lookup_ip(format!("{}.", record.host)).await {
                    Ok(ips) => ips.iter().next(),
                    Err(e) => {
                        tracing::warn!(host = %record.host, error = %e, "a discovered LDAP server's address cannot be found: left out");
                        continue;
                    }
                }
            } else {
                None
            };
            targets.push(Target {
                host: record.host,
                port: record.port,
                address,
            });
        }
        if targets.is_empty() {
            return Err(format!(
                "DNS SRV lookup of {}: no server's address could be found",
                self.name()
            ));
        }
        Ok((targets, Duration::from_secs(u64::from(ttl))))
    }
}

/// Whether `host` is `domain` or a name below it (case ignored).
pub fn in_domain(host: &str, domain: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    host == domain
        || host
            .strip_suffix(&domain)
            .is_some_and(|head| head.len() > 1 && head.ends_with('.'))
}

/// A number in `0..=n` from the system's random source (0 if it fails).
fn random_upto(n: u32) -> u32 {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 4];
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        return 0;
    }
    u32::from_le_bytes(bytes) % n.saturating_add(1).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(priority: u16, weight: u16, host: &str) -> Record {
        Record {
            priority,
            weight,
            port: 389,
            host: host.into(),
        }
    }

    fn hosts(records: &[Record]) -> Vec<&str> {
        records.iter().map(|r| r.host.as_str()).collect()
    }

    #[test]
    fn lower_priorities_come_first() {
        let records = vec![rec(10, 0, "b"), rec(0, 0, "a"), rec(20, 0, "c")];
        assert_eq!(hosts(&order(records, |_| 0)), ["a", "b", "c"]);
    }

    #[test]
    fn weights_choose_within_a_priority() {
        let records = vec![rec(0, 10, "light"), rec(0, 90, "heavy")];
        // A running sum of 10 reaches "light" first, 11 and above "heavy".
        assert_eq!(hosts(&order(records.clone(), |_| 5)), ["light", "heavy"]);
        assert_eq!(hosts(&order(records, |_| 50)), ["heavy", "light"]);
    }

    #[test]
    fn weighted_order_spreads_by_weight() {
        // Over every value pick() can return, the heavy record is first in
        // proportion to its weight.
        let records = vec![rec(0, 1, "light"), rec(0, 3, "heavy")];
        let mut heavy_first = 0;
        for value in 0..=4 {
            if order(records.clone(), |_| value)[0].host == "heavy" {
                heavy_first += 1;
            }
        }
        assert_eq!(heavy_first, 3);
    }

    #[test]
    fn only_targets_inside_the_domain_count() {
        for host in [
            "dc1.ad.example.com",
            "DC1.AD.Example.com.",
            "ad.example.com",
            "a.b.ad.example.com",
        ] {
            assert!(in_domain(host, "ad.example.com"), "{host}");
        }
        for host in [
            "evil.example.com",
            "dc1.ad.example.com.attacker.test",
            "xad.example.com",
            ".ad.example.com",
            "example.com",
        ] {
            assert!(!in_domain(host, "ad.example.com"), "{host}");
        }
    }

    #[test]
    fn a_lone_dot_means_no_service() {
        assert!(order(vec![rec(0, 0, ".")], |_| 0).is_empty());
    }

    #[test]
    fn every_record_is_kept_once() {
        let records: Vec<Record> = (0..10).map(|i| rec(i % 3, i, &format!("h{i}"))).collect();
        let mut seen = hosts(&order(records, random_upto))
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>();
        seen.sort();
        let mut expected: Vec<String> = (0..10).map(|i| format!("h{i}")).collect();
        expected.sort();
        assert_eq!(seen, expected);
    }

    #[test]
    fn random_numbers_stay_in_range() {
        for n in [0, 1, 7, u32::MAX] {
            assert!(random_upto(n) <= n);
        }
    }
}
