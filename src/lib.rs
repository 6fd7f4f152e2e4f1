//! therethere: the integration service of a helpdesk.
//!
//! Data flows one way: HTTP in → handler → domain function → Postgres (change and event in
//! one transaction) → worker → HTTP out. The modules below follow that flow.

/// A team managing its own people: the first workspace, invitations, roles, deactivation, passwords.
pub mod accounts;
/// `APP_URL` and the absolute links made under it.
pub mod app_url;
/// Authentication: passwords, sessions, API tokens, CSRF, and the current-user extractors.
pub mod auth;
/// One typed configuration, read from the environment once at start-up.
pub mod config;
/// The connection pool, migrations, and the embedded-default PostgreSQL.
pub mod db;
/// The demo workspace: Acme with its people, channels, contacts and tickets.
pub mod demo;
/// The single error type every handler returns, and its HTTP rendering.
pub mod error;
/// The helpdesk core: workspaces, users, channels, contacts, tickets, messages, notes, events.
pub mod helpdesk;
/// Quotas and rate limits: how much one user or workspace may keep and how often it may call out.
pub mod limits;
/// Outgoing mail: the durable outbox and the SMTP sender.
pub mod mail;
/// Prometheus metrics: counted where things happen, rendered for `/metrics`.
pub mod metrics;
/// All outbound HTTP: URL rules, the SSRF-safe resolver and client, request signing.
pub mod outbound;
/// Building the HTTP application and running it until shutdown.
/// Signing secrets sealed at rest under the operator's key, and its rotation.
pub mod secrets;
pub mod server;
/// Custom sidebar sections: configuration, fetching with cache and auto-disable, rendering.
pub mod sidebar;
/// `therethere verify`: checking a delivery's signatures as a receiver would.
pub mod verify;
/// The HTTP surface: the JSON API and the server-rendered pages.
pub mod web;
/// Webhook notifications: destinations, audience, payloads, the delivery queue and worker.
pub mod webhooks;
