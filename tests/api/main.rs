//! Black-box tests: the real HTTP server against real PostgreSQL.

mod auth;
mod cli;
mod health;
mod helpers;
mod input;
mod isolation;
mod pages;
mod roles;
mod tickets;
