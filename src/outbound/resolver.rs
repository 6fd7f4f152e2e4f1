//! Name resolution for outbound calls. `GuardedResolver` is the hook reqwest resolves through:
//! it looks the name up, drops every non-public address, and hands reqwest only what passed,
//! so a name that turned private after it was saved (DNS rebinding) is refused at connect time.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::ip_ranges::is_public;

pub type LookupFuture<'a> = Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send + 'a>>;

/// Turns a host name into addresses. The system's resolver in production; tests install a
/// fixed table so that no query leaves the machine.
pub trait NameLookup: Send + Sync + 'static {
    fn lookup<'a>(&'a self, host: &'a str) -> LookupFuture<'a>;
}

/// The operating system's resolver (getaddrinfo: /etc/hosts, then DNS).
pub struct SystemLookup;

impl NameLookup for SystemLookup {
    fn lookup<'a>(&'a self, host: &'a str) -> LookupFuture<'a> {
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host, 0)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    }
}

/// A fixed table of names, for tests: unknown names do not resolve. Its answers can be
/// changed while in use, to play a DNS-rebinding attacker.
#[derive(Default, Clone)]
pub struct StaticLookup {
    table: Arc<std::sync::RwLock<HashMap<String, Vec<IpAddr>>>>,
}

impl StaticLookup {
    pub fn new(entries: &[(&str, &[IpAddr])]) -> Self {
        let lookup = StaticLookup::default();
        for (name, ips) in entries {
            lookup.set(name, ips);
        }
        lookup
    }

    pub fn set(&self, name: &str, ips: &[IpAddr]) {
        self.table
            .write()
            .expect("lookup table lock")
            .insert(name.to_ascii_lowercase(), ips.to_vec());
    }
}

impl NameLookup for StaticLookup {
    fn lookup<'a>(&'a self, host: &'a str) -> LookupFuture<'a> {
        let found = self
            .table
            .read()
            .expect("lookup table lock")
            .get(&host.to_ascii_lowercase())
            .cloned();
        Box::pin(async move {
            found.ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::NotFound, "name does not resolve")
            })
        })
    }
}

/// Why the resolver refused a name; found again in reqwest's error chain to report it.
#[derive(Debug, thiserror::Error)]
pub enum ResolveRefusal {
    #[error("resolves to a private address")]
    OnlyPrivateAddresses,
    #[error("does not resolve: {0}")]
    NotFound(String),
}

/// reqwest's resolver: looks up through `lookup` and keeps only public addresses
/// (all addresses when private targets are allowed by configuration).
pub struct GuardedResolver {
    pub lookup: Arc<dyn NameLookup>,
    pub allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let lookup = self.lookup.clone();
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let ips = lookup.lookup(&host).await.map_err(|e| {
                Box::new(ResolveRefusal::NotFound(e.to_string()))
                    as Box<dyn std::error::Error + Send + Sync>
            })?;
            let allowed: Vec<SocketAddr> = ips
                .into_iter()
                .filter(|ip| allow_private || is_public(*ip))
                .map(|ip| SocketAddr::new(ip, 0))
                .collect();
            if allowed.is_empty() {
                return Err(Box::new(ResolveRefusal::OnlyPrivateAddresses)
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn resolve(resolver: &GuardedResolver, name: &str) -> Result<Vec<IpAddr>, String> {
        let name: Name = name.parse().unwrap();
        resolver
            .resolve(name)
            .await
            .map(|addrs| addrs.map(|a| a.ip()).collect())
            .map_err(|e| e.to_string())
    }

    fn table() -> Arc<StaticLookup> {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        Arc::new(StaticLookup::new(&[
            (
                "mixed.example",
                &[
                    ip("127.0.0.1"),
                    ip("93.184.216.34"),
                    ip("10.1.2.3"),
                    ip("2606:4700::1"),
                ],
            ),
            (
                "private.example",
                &[ip("169.254.169.254"), ip("::ffff:10.0.0.1")],
            ),
        ]))
    }

    #[tokio::test]
    async fn only_public_addresses_are_handed_to_the_connector() {
        let strict = GuardedResolver {
            lookup: table(),
            allow_private: false,
        };
        assert_eq!(
            resolve(&strict, "mixed.example").await.unwrap(),
            [
                "93.184.216.34".parse::<IpAddr>().unwrap(),
                "2606:4700::1".parse().unwrap()
            ]
        );
        assert_eq!(
            resolve(&strict, "private.example").await.unwrap_err(),
            "resolves to a private address"
        );
        assert!(
            resolve(&strict, "unknown.example")
                .await
                .unwrap_err()
                .starts_with("does not resolve")
        );
    }

    #[tokio::test]
    async fn the_development_switch_keeps_every_address() {
        let open = GuardedResolver {
            lookup: table(),
            allow_private: true,
        };
        assert_eq!(resolve(&open, "mixed.example").await.unwrap().len(), 4);
    }
}
