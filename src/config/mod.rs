//! The service's configuration: one typed struct, read from the environment (and `.env`)
//! once at start-up and validated there, so nothing else reads the environment.
//!
//! Variables (all documented in `.env.example`):
//! - `DATABASE_URL`: PostgreSQL URL. Unset: an embedded private PostgreSQL is started.
//! - `EMBEDDED_DB_DIR`: where the embedded PostgreSQL lives (default `.therethere/postgres`).
//! - `BIND_ADDR`: address to listen on (default `127.0.0.1:8080`).
//! - `APP_URL`: public base URL used in links in payloads and emails (default `http://` + BIND_ADDR).
//! - `SMTP_URL`: SMTP server, e.g. `smtp://user:pass@host:587`. Unset: mail is logged and kept.
//! - `MAIL_FROM`: sender address of outgoing mail (default `There There <noreply@localhost>`).
//! - `OUTBOUND_ALLOW_PRIVATE`, `OUTBOUND_ALLOW_HTTP`: development switches for outbound calls.
//! - `SIDEBAR_CACHE_TTL`: seconds a sidebar section's answer is reused per contact (default 300).
//! - `SIDEBAR_STALE_MAX_AGE`: seconds the last good answer may be shown, marked stale, when
//!   an endpoint fails (default 86400).
//! - `SIDEBAR_REFRESH_INTERVAL`: seconds between forced refreshes of one section for one
//!   contact (default 10).
//! - `SIDEBAR_WARMUP_CONCURRENCY`: background loads of "Load when a ticket arrives" sections
//!   under way at once per instance that runs workers (default 4; 0 turns them off here).
//! - `WEBHOOK_RETRY_DELAYS`: seconds between webhook attempts (default "10,20": 3 attempts).
//! - `WEBHOOK_DISABLE_AFTER_FAILURES` (10) and `WEBHOOK_DISABLE_AFTER_HOURS` (24): a destination
//!   whose deliveries failed every attempt this many times in a row, over at least this long,
//!   is disabled (its managers warned by email at half the count).
//! - `WEBHOOK_RETRY_AFTER_CAP`: the longest wait a receiver's 429 `Retry-After` may ask for
//!   (seconds, default 600).
//! - `WEBHOOK_LEASE_SECONDS`: how long a claimed delivery is reserved (default 30); a claimed
//!   delivery may wait for room for this less the 5 s attempt timeout.
//! - `WEBHOOK_CONCURRENCY`: webhook attempts under way at once per instance (default 256).
//! - `WEBHOOK_DESTINATION_CONCURRENCY`: of those, at most this many to one destination (default 16).
//! - `WEBHOOK_WORKSPACE_CONCURRENCY`: and at most this many for one workspace (default three
//!   quarters of `WEBHOOK_CONCURRENCY`), so one workspace's slow receivers leave slots to others.
//! - `WEBHOOK_LOG_RETENTION_DAYS`: days the delivery log is kept (default 30).
//! - `HTTP_HEADER_READ_TIMEOUT`, `HTTP_REQUEST_TIMEOUT`: seconds a client may take to send a
//!   request's headers (also how long an idle keep-alive connection stays open; default 30) and
//!   a whole request may take (default 30).
//! - `HTTP_MAX_IN_FLIGHT`: requests handled at once; more answer 503 at once (default 512).
//! - `TRUSTED_CLIENT_IP_HEADER`: behind a reverse proxy, the header whose last address is the
//!   client's (e.g. `X-Forwarded-For`). Unset: the TCP peer's address.
//! - `PASSWORD_THREADS`, `PASSWORD_QUEUE`: password checks run at once (default half the
//!   cores, at least 1) and waiting (default 8); past that a login answers 503 at once.
//! - `LOGIN_THROTTLE_ACCOUNT_FAILURES` (5), `LOGIN_THROTTLE_ADDRESS_FAILURES` (20),
//!   `LOGIN_THROTTLE_BASE_SECONDS` (1), `LOGIN_THROTTLE_MAX_SECONDS` (900),
//!   `LOGIN_THROTTLE_WINDOW_SECONDS` (3600): failed-login throttling;
//!   `LOGIN_REFUSAL_PAUSE_SECONDS` (0.5): every refused login is answered after this pause.
//! - `SESSION_LIFETIME_SECONDS` (14 days), `SESSION_IDLE_TIMEOUT_SECONDS` (12 hours).
//! - Quotas: `MAX_PERSONAL_DESTINATIONS_PER_USER` (20), `MAX_WORKSPACE_DESTINATIONS` (100),
//!   `MAX_SIDEBAR_SECTIONS` (50), `MAX_API_TOKENS_PER_USER` (20), `MAX_SESSIONS_PER_USER` (20).
//! - Rate limits: `TEST_NOTIFICATIONS_PER_MINUTE` (10 per destination), `RESENDS_PER_MINUTE`
//!   (30 per destination), `SECTION_TESTS_PER_MINUTE` (10 per section), `REPLAYS_PER_HOUR` (6
//!   per destination), `INVITATIONS_PER_HOUR` (50 per workspace), `PASSWORD_RESETS_PER_HOUR`
//!   (3 per email) and `PASSWORD_RESETS_PER_HOUR_PER_ADDRESS` (20 per client address).
//! - Creation rates per minute (0: off): `TICKETS_PER_MINUTE_PER_USER` (30000) and
//!   `..._PER_WORKSPACE` (60000), `MESSAGES_PER_MINUTE_PER_USER` (30000) and
//!   `..._PER_WORKSPACE` (60000), `NOTES_PER_MINUTE_PER_USER` (3000) and `..._PER_WORKSPACE` (12000).
//! - `WEBHOOK_MAX_RESENDS` (25): resends by hand of one delivery; one more answers 409.
//! - Links: `INVITATION_VALIDITY_HOURS` (168), `PASSWORD_RESET_VALIDITY_MINUTES` (60),
//!   `SETUP_LINK_VALIDITY_HOURS` (24: the link `therethere workspace create` prints).
//! - `ROLE` (`all`): what `serve` runs: `web` (pages and API), `worker` (webhook delivery, mail
//!   and sidebar warm-ups, with only the probes and metrics on `BIND_ADDR`), or `all`; `--role` overrides it.
//! - `DATABASE_MAX_CONNECTIONS` (20): the request pool; `WORKER_DATABASE_CONNECTIONS` (6): the
//!   webhook worker's own pool.
//! - `METRICS_ADDR` (`127.0.0.1:9464`, or `off`): where `/metrics` is served for Prometheus;
//!   `METRICS_TOKEN`: also serve it on `BIND_ADDR`, to `Authorization: Bearer <token>` only.
//! - `LOG_FORMAT` (`text`): `json` for one JSON object per line.
//! - `SECRETS_KEY` (base64 of 32 bytes) or `SECRETS_KEY_FILE`: the key that seals signing
//!   secrets at rest (required with `DATABASE_URL`; the embedded default generates
//!   `.therethere/secrets.key`); `SECRETS_KEY_PREVIOUS`: the key before, while rotating.
//! - `DEMO_DATA`: seed the demo workspace into an empty database on `serve`
//!   (default: true with the embedded database, false with `DATABASE_URL`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use axum::http::HeaderName;

mod groups;
mod vars;

use crate::accounts::AccountSettings;
use crate::app_url::AppUrl;
use crate::auth::login_throttle::ThrottlePolicy;
use crate::auth::sessions::SessionSettings;
use crate::limits::Limits;
use crate::mail::MailSettings;
use crate::secrets::keys::KeySettings;
use crate::sidebar::SidebarSettings;
use crate::webhooks::WebhookSettings;
use groups::{
    account_settings, app_url, database, http_settings, key_settings, limits, login_throttle,
    parse_smtp_url, session_settings, webhook_settings,
};
use vars::Vars;

/// How long clients may take, and how much the service takes on at once (`HTTP_*` settings).
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// A request's headers must arrive within this; it is also how long an idle keep-alive
    /// connection stays open (hyper's header timer runs while it waits for the next request).
    pub header_read_timeout: Duration,
    /// A whole request, body and handler, must finish within this.
    pub request_timeout: Duration,
    /// Requests handled at once per instance; more are refused with 503 at once.
    pub max_in_flight: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            header_read_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(30),
            max_in_flight: 512,
        }
    }
}

/// What `therethere serve` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Pages, API and background work together (the default).
    All,
    /// Pages and API only: no webhook delivery, no mail sending.
    Web,
    /// Webhook fan-out and delivery and the mail sender, with only the probes and metrics
    /// served on `BIND_ADDR`.
    Worker,
}

impl Role {
    pub fn serves_pages(self) -> bool {
        matches!(self, Role::All | Role::Web)
    }

    pub fn runs_workers(self) -> bool {
        matches!(self, Role::All | Role::Worker)
    }

    fn parse(raw: &str) -> Result<Self, String> {
        match raw.to_ascii_lowercase().as_str() {
            "all" => Ok(Role::All),
            "web" => Ok(Role::Web),
            "worker" => Ok(Role::Worker),
            _ => Err("must be all, web or worker".into()),
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines, for a terminal.
    Text,
    /// One JSON object per line, with the current spans' fields.
    Json,
}

/// Where the database comes from.
#[derive(Debug, Clone)]
pub enum DatabaseSource {
    /// An external PostgreSQL given by `DATABASE_URL`.
    Url(SecretString),
    /// A private PostgreSQL the service runs itself from the system's binaries.
    Embedded { dir: PathBuf },
}

#[derive(Debug, Clone)]
pub struct Config {
    pub database: DatabaseSource,
    pub bind_addr: SocketAddr,
    pub app_url: AppUrl,
    pub mail: MailSettings,
    pub outbound_allow_private: bool,
    pub outbound_allow_http: bool,
    pub demo_data: bool,
    pub sidebar: SidebarSettings,
    pub webhooks: WebhookSettings,
    pub http: HttpSettings,
    pub trusted_client_ip_header: Option<HeaderName>,
    pub password_threads: usize,
    pub password_queue: usize,
    pub login_throttle: ThrottlePolicy,
    pub sessions: SessionSettings,
    pub limits: Limits,
    pub accounts: AccountSettings,
    /// Where the key that seals signing secrets comes from (`crate::secrets::keys`).
    pub secrets: KeySettings,
    pub role: Role,
    pub database_max_connections: u32,
    pub worker_database_connections: u32,
    /// Where the metrics listener binds; `None`: no listener (`METRICS_ADDR=off`).
    pub metrics_addr: Option<SocketAddr>,
    /// When set, `/metrics` is also served on `BIND_ADDR` to this bearer token.
    pub metrics_token: Option<SecretString>,
    pub log_format: LogFormat,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {variable}: {reason}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub reason: String,
}

impl Config {
    /// Reads the process environment, after loading `.env` if one is present.
    pub fn from_env() -> Result<Self, ConfigError> {
        // A missing .env is normal; a malformed one is worth failing on.
        if let Err(err) = dotenvy::dotenv()
            && !err.not_found()
        {
            return Err(ConfigError {
                variable: ".env",
                reason: err.to_string(),
            });
        }
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds the config from any variable lookup (the environment, or a test's map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars::new(get);
        let database = database(&vars)?;
        let embedded = matches!(database, DatabaseSource::Embedded { .. });
        let bind_addr = vars.parsed(
            "BIND_ADDR",
            || SocketAddr::from(([127, 0, 0, 1], 8080)),
            |raw| {
                raw.parse()
                    .map_err(|_| "must be an address like 127.0.0.1:8080".into())
            },
        )?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(Config {
            app_url: app_url(&vars, bind_addr)?,
            bind_addr,
            mail: MailSettings {
                smtp_url: vars.optional("SMTP_URL", parse_smtp_url)?,
                from: vars
                    .text("MAIL_FROM")
                    .unwrap_or_else(|| "There There <noreply@localhost>".into()),
            },
            outbound_allow_private: vars.flag("OUTBOUND_ALLOW_PRIVATE", false)?,
            outbound_allow_http: vars.flag("OUTBOUND_ALLOW_HTTP", false)?,
            demo_data: vars.flag("DEMO_DATA", embedded)?,
            sidebar: SidebarSettings {
                cache_ttl: vars.seconds("SIDEBAR_CACHE_TTL", Duration::from_secs(300), 0.0)?,
                stale_max_age: vars.seconds(
                    "SIDEBAR_STALE_MAX_AGE",
                    Duration::from_secs(86_400),
                    0.0,
                )?,
                refresh_interval: vars.seconds(
                    "SIDEBAR_REFRESH_INTERVAL",
                    Duration::from_secs(10),
                    0.0,
                )?,
                warm_up_concurrency: vars
                    .number("SIDEBAR_WARMUP_CONCURRENCY", 4.0, 0.0)?
                    .min(1024.0) as usize,
            },
            webhooks: webhook_settings(&vars)?,
            http: http_settings(&vars)?,
            trusted_client_ip_header: vars.optional("TRUSTED_CLIENT_IP_HEADER", |raw| {
                HeaderName::try_from(raw.to_ascii_lowercase())
                    .map_err(|_| "must be a header name such as X-Forwarded-For".into())
            })?,
            password_threads: vars.count("PASSWORD_THREADS", (cores / 2).max(1) as u32)? as usize,
            password_queue: vars.count("PASSWORD_QUEUE", 8)? as usize,
            login_throttle: login_throttle(&vars)?,
            sessions: session_settings(&vars)?,
            limits: limits(&vars)?,
            accounts: account_settings(&vars)?,
            secrets: key_settings(&vars, &database)?,
            role: vars.parsed("ROLE", || Role::All, Role::parse)?,
            database_max_connections: vars.count("DATABASE_MAX_CONNECTIONS", 20)?,
            worker_database_connections: vars.count("WORKER_DATABASE_CONNECTIONS", 6)?,
            metrics_addr: vars.parsed(
                "METRICS_ADDR",
                || Some(SocketAddr::from(([127, 0, 0, 1], 9464))),
                |raw| match raw {
                    "off" => Ok(None),
                    raw => raw
                        .parse()
                        .map(Some)
                        .map_err(|_| "must be an address like 127.0.0.1:9464, or off".into()),
                },
            )?,
            metrics_token: vars.optional("METRICS_TOKEN", |raw| {
                if raw.len() < 16 {
                    return Err("must be at least 16 characters".into());
                }
                Ok(SecretString::from(raw))
            })?,
            log_format: vars.parsed(
                "LOG_FORMAT",
                || LogFormat::Text,
                |raw| match raw {
                    "text" => Ok(LogFormat::Text),
                    "json" => Ok(LogFormat::Json),
                    _ => Err("must be text or json".into()),
                },
            )?,
            database,
        })
    }

    /// Whether session cookies must be marked `Secure`.
    pub fn cookies_secure(&self) -> bool {
        self.app_url.scheme() == "https"
    }

    pub fn database_url(&self) -> Option<&str> {
        match &self.database {
            DatabaseSource::Url(url) => Some(url.expose_secret()),
            DatabaseSource::Embedded { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_use_the_embedded_database_and_seed_demo_data() {
        let c = config(&[]).unwrap();
        assert!(matches!(c.database, DatabaseSource::Embedded { .. }));
        assert_eq!(c.bind_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(c.app_url.as_str(), "http://127.0.0.1:8080/");
        assert!(c.demo_data);
        assert!(!c.outbound_allow_private && !c.outbound_allow_http);
        assert_eq!(c.sidebar.cache_ttl, Duration::from_secs(300));
    }

    #[test]
    fn a_workspace_may_hold_three_quarters_of_the_webhook_slots_unless_told() {
        let slots = |vars: &[(&str, &str)]| {
            let w = config(vars).unwrap().webhooks;
            (w.concurrency, w.workspace_concurrency)
        };
        assert_eq!(slots(&[]), (256, 192));
        assert_eq!(slots(&[("WEBHOOK_CONCURRENCY", "4")]), (4, 3));
        assert_eq!(slots(&[("WEBHOOK_CONCURRENCY", "1")]), (1, 1));
        assert_eq!(
            slots(&[("WEBHOOK_WORKSPACE_CONCURRENCY", "200")]),
            (256, 200)
        );
        assert_eq!(
            config(&[("WEBHOOK_WORKSPACE_CONCURRENCY", "0")])
                .unwrap_err()
                .variable,
            "WEBHOOK_WORKSPACE_CONCURRENCY"
        );
    }

    #[test]
    fn an_external_database_does_not_seed_demo_data_by_default() {
        let c = config(&[("DATABASE_URL", "postgres://u:p@db/x")]).unwrap();
        assert!(!c.demo_data);
        assert_eq!(c.database_url(), Some("postgres://u:p@db/x"));
    }

    #[test]
    fn bad_values_fail_with_the_variable_named() {
        assert_eq!(
            config(&[("BIND_ADDR", "nope")]).unwrap_err().variable,
            "BIND_ADDR"
        );
        assert_eq!(
            config(&[("APP_URL", "ftp://x")]).unwrap_err().variable,
            "APP_URL"
        );
        assert_eq!(
            config(&[("DATABASE_URL", "mysql://x")])
                .unwrap_err()
                .variable,
            "DATABASE_URL"
        );
        assert_eq!(
            config(&[("SMTP_URL", "http://x")]).unwrap_err().variable,
            "SMTP_URL"
        );
        assert_eq!(
            config(&[("OUTBOUND_ALLOW_HTTP", "maybe")])
                .unwrap_err()
                .variable,
            "OUTBOUND_ALLOW_HTTP"
        );
    }

    #[test]
    fn a_creation_rate_of_zero_turns_it_off_and_a_negative_one_is_refused() {
        let c = config(&[("TICKETS_PER_MINUTE_PER_USER", "0")]).unwrap();
        assert_eq!(c.limits.creation.tickets_per_user, 0);
        assert_eq!(
            config(&[("NOTES_PER_MINUTE_PER_USER", "-1")])
                .unwrap_err()
                .variable,
            "NOTES_PER_MINUTE_PER_USER"
        );
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let c = config(&[
            ("DATABASE_URL", "postgres://u:hunter2@db/x"),
            ("SMTP_URL", "smtp://a:s3cret@mail:25"),
        ])
        .unwrap();
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("s3cret"),
            "{shown}"
        );
    }

    #[test]
    fn app_url_is_read_and_decides_cookie_security() {
        let c = config(&[("APP_URL", "https://help.example.com/")]).unwrap();
        assert_eq!(
            c.app_url.link("/tickets/4"),
            "https://help.example.com/tickets/4"
        );
        assert!(c.cookies_secure());
    }
}
