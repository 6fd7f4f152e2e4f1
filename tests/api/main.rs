//! Black-box tests: the real HTTP server against real PostgreSQL.

mod abuse_limits;
mod abuse_logins;
mod architecture;
mod auth;
mod browser;
mod cli;
mod crash;
mod health;
mod health_at_a_glance;
mod helpers;
mod input;
mod isolation;
mod logs;
mod metrics;
mod openapi_conformance;
mod outbound;
mod pages;
mod receiver;
mod receiving;
mod roles;
mod service_roles;
mod sidebar;
mod smtp;
mod spec_wording;
mod tickets;
mod webhooks;
