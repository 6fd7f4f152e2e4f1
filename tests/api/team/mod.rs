//! A team managing its own people: the first workspace from the command line, invitations,
//! roles, deactivation, passwords, sessions and API tokens with limits.

mod demo;
mod first_workspace;
mod invitations;
mod passwords;
mod people;
mod tokens;

use reqwest::StatusCode;

use crate::helpers::{Browser, TestApp};

/// The secret of a link (`...?token=SECRET`) in a mail or a command's output.
pub fn token_in(text: &str) -> String {
    let start = text.find("token=").expect("a link with a token") + "token=".len();
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect()
}

/// Posts a form to a page reached without a session (no CSRF token: there is no session).
pub async fn post_public(
    browser: &Browser,
    app: &TestApp,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    browser
        .client
        .post(app.url(path))
        .form(form)
        .send()
        .await
        .unwrap()
}

/// Chooses a password through a setup or reset link; the browser is then signed in.
pub async fn choose_password(app: &TestApp, token: &str, password: &str) -> Browser {
    let browser = Browser::new(&app.address);
    let page = browser
        .get(&format!("/password/choose?token={token}"))
        .await;
    assert_eq!(page.status(), StatusCode::OK, "the link opens its page");
    let response = post_public(
        &browser,
        app,
        "/password/choose",
        &[("token", token), ("password", password)],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/tickets");
    browser
}

/// Signs in through the login form; the status the form answered.
pub async fn log_in(app: &TestApp, email: &str, password: &str) -> (StatusCode, Browser) {
    log_in_at(&app.address, email, password).await
}

/// `log_in` on the service at `base`.
pub async fn log_in_at(base: &str, email: &str, password: &str) -> (StatusCode, Browser) {
    let browser = Browser::new(base);
    let response = browser
        .client
        .post(format!("{base}/login"))
        .form(&[("email", email), ("password", password)])
        .send()
        .await
        .unwrap();
    (response.status(), browser)
}
