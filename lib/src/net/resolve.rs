//! The resolver the guarded client connects through: it looks a host up once, refuses the whole host when any of
//! its addresses is refused by the [`AddressPolicy`], and hands the HTTP client exactly the addresses it checked.
//! The connection goes to one of those, with no second lookup that a rebinding DNS server could answer otherwise.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use futures_util::future::BoxFuture;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::error::FetchError;
use super::guard::AddressPolicy;

/// How a host name becomes addresses. The system's resolver in production; a table in tests.
pub type Lookup = Arc<dyn Fn(String) -> BoxFuture<'static, io::Result<Vec<IpAddr>>> + Send + Sync>;

/// Resolves host names and checks every address against an [`AddressPolicy`]. Implements reqwest's [`Resolve`], so a
/// client built with it connects only to checked addresses.
#[derive(Clone)]
pub struct GuardedResolver {
    policy: AddressPolicy,
    lookup: Lookup,
}

impl std::fmt::Debug for GuardedResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardedResolver")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl GuardedResolver {
    /// A resolver over the system's (tokio's `lookup_host`).
    pub fn new(policy: AddressPolicy) -> Self {
        Self::with_lookup(policy, system_lookup)
    }

    /// A resolver over `lookup`, which turns a host name into its addresses.
    pub fn with_lookup<F, Fut>(policy: AddressPolicy, lookup: F) -> Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = io::Result<Vec<IpAddr>>> + Send + 'static,
    {
        Self {
            policy,
            lookup: Arc::new(move |host| Box::pin(lookup(host))),
        }
    }

    /// The policy addresses are checked against.
    pub fn policy(&self) -> AddressPolicy {
        self.policy
    }

    /// Looks `host` up and checks every address it has. A host with no address is [`FetchError::NotFound`]; a host
    /// with any refused address is [`FetchError::Forbidden`], naming the first such address, even when others are
    /// public. Otherwise the addresses, exactly as looked up.
    pub async fn lookup(&self, host: &str) -> Result<Vec<IpAddr>, FetchError> {
        let not_found = || FetchError::NotFound {
            host: host.to_owned(),
        };
        let ips = (self.lookup)(host.to_owned())
            .await
            .map_err(|_| not_found())?;
        if ips.is_empty() {
            return Err(not_found());
        }
        for &ip in &ips {
            self.policy
                .check(ip)
                .map_err(|reason| FetchError::Forbidden {
                    host: host.to_owned(),
                    ip,
                    reason,
                })?;
        }
        Ok(ips)
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let this = self.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let ips = this.lookup(&host).await?;
            // Port 0 is replaced by the URL's port (or the scheme's).
            let addrs: Addrs = Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

async fn system_lookup(host: String) -> io::Result<Vec<IpAddr>> {
    Ok(tokio::net::lookup_host((host.as_str(), 0))
        .await?
        .map(|addr| addr.ip())
        .collect())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use super::*;
    use crate::net::guard::Refusal;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// A resolver over a fixed table, counting lookups per host.
    fn table(
        policy: AddressPolicy,
        entries: &[(&str, &[&str])],
    ) -> (GuardedResolver, Arc<Mutex<HashMap<String, usize>>>) {
        let map: HashMap<String, Vec<IpAddr>> = entries
            .iter()
            .map(|(h, ips)| ((*h).to_owned(), ips.iter().map(|s| ip(s)).collect()))
            .collect();
        let calls = Arc::new(Mutex::new(HashMap::new()));
        let counted = calls.clone();
        let resolver = GuardedResolver::with_lookup(policy, move |host: String| {
            *counted.lock().unwrap().entry(host.clone()).or_insert(0) += 1;
            let found = map.get(&host).cloned();
            async move { found.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such host")) }
        });
        (resolver, calls)
    }

    async fn resolved(resolver: &GuardedResolver, host: &str) -> Result<Vec<SocketAddr>, String> {
        let name: Name = host.parse().unwrap();
        match resolver.resolve(name).await {
            Ok(addrs) => Ok(addrs.collect()),
            Err(e) => Err(e.to_string()),
        }
    }

    #[tokio::test]
    async fn hands_back_exactly_the_addresses_it_checked_after_one_lookup() {
        let (resolver, calls) = table(
            AddressPolicy::default(),
            &[("media.example", &["93.184.216.34", "2606:2800:220:1::1"])],
        );
        let addrs = resolved(&resolver, "media.example").await.unwrap();
        assert_eq!(
            addrs,
            vec![
                SocketAddr::new(ip("93.184.216.34"), 0),
                SocketAddr::new(ip("2606:2800:220:1::1"), 0),
            ]
        );
        assert_eq!(calls.lock().unwrap()["media.example"], 1);
    }

    #[tokio::test]
    async fn refuses_the_whole_host_when_any_address_is_refused() {
        let (resolver, _) = table(
            AddressPolicy::default(),
            &[
                ("mixed.example", &["93.184.216.34", "10.0.0.5"]),
                ("meta.example", &["fd00:ec2::254"]),
                ("localhost", &["127.0.0.1", "::1"]),
            ],
        );
        assert_eq!(
            resolver.lookup("mixed.example").await,
            Err(FetchError::Forbidden {
                host: "mixed.example".into(),
                ip: ip("10.0.0.5"),
                reason: Refusal::Private,
            })
        );
        let e = resolved(&resolver, "mixed.example").await.unwrap_err();
        assert_eq!(
            e,
            "mixed.example resolves to a private network address (10.0.0.5), which Postora does not fetch from"
        );
        assert!(matches!(
            resolver.lookup("meta.example").await,
            Err(FetchError::Forbidden {
                reason: Refusal::CloudMetadata,
                ..
            })
        ));
        assert!(matches!(
            resolver.lookup("localhost").await,
            Err(FetchError::Forbidden {
                reason: Refusal::Loopback,
                ..
            })
        ));
    }

    #[tokio::test]
    async fn loopback_passes_only_when_the_policy_allows_it() {
        let (resolver, _) = table(
            AddressPolicy::allowing_loopback(),
            &[
                ("localhost", &["127.0.0.1", "::1"]),
                ("mixed.example", &["127.0.0.1", "192.168.1.1"]),
            ],
        );
        assert_eq!(
            resolved(&resolver, "localhost").await.unwrap(),
            vec![
                SocketAddr::new(ip("127.0.0.1"), 0),
                SocketAddr::new(ip("::1"), 0)
            ]
        );
        assert!(resolver.lookup("mixed.example").await.is_err());
    }

    #[tokio::test]
    async fn a_host_with_no_address_is_not_found() {
        let (resolver, _) = table(AddressPolicy::default(), &[("empty.example", &[])]);
        for host in ["empty.example", "missing.example"] {
            assert_eq!(
                resolver.lookup(host).await,
                Err(FetchError::NotFound { host: host.into() })
            );
        }
    }
}
