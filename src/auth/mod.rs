//! Who is calling: passwords, browser sessions, API tokens, CSRF, and the extractors that
//! turn a request into the current user.

pub mod api_tokens;
pub mod authenticate;
pub mod client_address;
pub mod credential_cache;
pub mod csrf;
pub mod current_user;
pub mod login;
pub mod login_throttle;
pub mod password_pool;
pub mod secret_token;
pub mod sessions;

pub use current_user::{AuthMethod, CurrentUser};
