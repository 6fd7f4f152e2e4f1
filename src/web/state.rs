//! `AppState`: what every handler can reach. Cheap to clone (an `Arc` inside).

use std::sync::Arc;

use axum::extract::FromRef;
use sqlx::PgPool;

use crate::accounts::invitations::Mailing;
use crate::auth::authenticate::Authenticator;
use crate::auth::client_address::TrustedClientIpHeader;
use crate::auth::credential_cache::CredentialCache;
use crate::auth::login::Logins;
use crate::auth::password_pool::PasswordPool;
use crate::config::Config;
use crate::db::doorbell::Doorbell;
use crate::helpdesk::intake::TicketIntake;
use crate::limits::creation::{Creation, CreationLimits};
use crate::metrics::Metrics;
use crate::outbound::{NameLookup, Outbound, OutboundPolicy, SystemLookup};
use crate::sidebar::Sidebar;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub pool: PgPool,
    pub config: Config,
    pub outbound: Arc<Outbound>,
    pub sidebar: Sidebar,
    pub credentials: Arc<CredentialCache>,
    pub logins: Logins,
    pub metrics: Arc<Metrics>,
    /// Rung by the domain after each commit that recorded events: new events for the
    /// consumers of every instance.
    pub events: Doorbell,
    /// Where new tickets wait for their batch (`helpdesk::intake`).
    pub intake: TicketIntake,
    /// How fast people and workspaces may create tickets, messages and notes.
    pub creation: CreationLimits,
}

impl AppState {
    /// The app as it runs: names resolve through the operating system.
    pub fn new(pool: PgPool, config: Config) -> Self {
        Self::with_lookup(pool, config, Arc::new(SystemLookup))
    }

    /// The app with another name lookup: tests answer names from a fixed table.
    pub fn with_lookup(pool: PgPool, config: Config, lookup: Arc<dyn NameLookup>) -> Self {
        let policy = OutboundPolicy {
            allow_private: config.outbound_allow_private,
            allow_http: config.outbound_allow_http,
        };
        let outbound = Arc::new(Outbound::new(policy, lookup));
        let metrics = Arc::new(Metrics::default());
        metrics.watch_pool("web", &pool);
        let sidebar = Sidebar::new(
            metrics.clone(),
            pool.clone(),
            outbound.clone(),
            config.sidebar,
            config.limits.clone(),
            config.app_url.clone(),
        );
        let events = Doorbell::spawn(pool.clone(), crate::helpdesk::events::NOTIFY_CHANNEL);
        AppState(Arc::new(Inner {
            metrics,
            intake: TicketIntake::spawn(
                pool.clone(),
                events.clone(),
                Some(crate::webhooks::fanout::after_intake(
                    pool.clone(),
                    config.app_url.clone(),
                )),
            ),
            events,
            creation: CreationLimits::spawn(pool.clone(), config.limits.creation),
            outbound,
            sidebar,
            credentials: Arc::default(),
            logins: Logins::new(PasswordPool::new(
                config.password_threads,
                config.password_queue,
            )),
            pool,
            config,
        }))
    }

    pub fn pool(&self) -> &PgPool {
        &self.0.pool
    }

    pub fn config(&self) -> &Config {
        &self.0.config
    }

    pub fn outbound(&self) -> &Outbound {
        &self.0.outbound
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.0.metrics
    }

    pub fn sidebar(&self) -> &Sidebar {
        &self.0.sidebar
    }

    pub fn credentials(&self) -> &CredentialCache {
        &self.0.credentials
    }

    pub fn logins(&self) -> &Logins {
        &self.0.logins
    }

    pub fn events(&self) -> &Doorbell {
        &self.0.events
    }

    pub fn intake(&self) -> &TicketIntake {
        &self.0.intake
    }

    /// Admits one more ticket, message or note by `user` (429 past a rate).
    pub fn admit_creation(
        &self,
        what: Creation,
        user: &crate::helpdesk::users::User,
    ) -> Result<(), crate::error::AppError> {
        self.0.creation.admit(what, user.workspace_id, user.id)
    }

    /// What sending an invitation needs from the configuration.
    pub fn invitation_mailing(&self) -> Mailing<'_> {
        let config = &self.0.config;
        Mailing {
            settings: &config.accounts,
            app_url: &config.app_url,
            limits: &config.limits,
        }
    }
}

impl FromRef<AppState> for PgPool {
    fn from_ref(state: &AppState) -> Self {
        state.0.pool.clone()
    }
}

impl FromRef<AppState> for TrustedClientIpHeader {
    fn from_ref(state: &AppState) -> Self {
        TrustedClientIpHeader(state.0.config.trusted_client_ip_header.clone())
    }
}

impl FromRef<AppState> for Authenticator {
    fn from_ref(state: &AppState) -> Self {
        Authenticator {
            pool: state.0.pool.clone(),
            credentials: state.0.credentials.clone(),
            session_idle_timeout: state.0.config.sessions.idle_timeout,
            client_ip_header: TrustedClientIpHeader::from_ref(state),
        }
    }
}
