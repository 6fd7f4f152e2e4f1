//! The clients tests act through: the JSON API with a bearer token, a browser-like client
//! with a session cookie and CSRF tokens, and the check of the API's error shape.

use reqwest::{Client, Response, StatusCode, redirect};
use serde_json::Value;

use super::{TestApp, TestUser};

impl TestApp {
    /// A JSON API client acting as `user` through their bearer token.
    pub fn api(&self, user: &TestUser) -> Api {
        Api {
            client: plain_client(),
            base: self.address.clone(),
            token: Some(user.token.clone()),
        }
    }

    /// A JSON API client acting as `user` on another instance at `base`.
    pub fn api_on(&self, base: &str, user: &TestUser) -> Api {
        Api {
            client: plain_client(),
            base: base.to_string(),
            token: Some(user.token.clone()),
        }
    }

    /// A client with no credentials at all.
    pub fn anonymous(&self) -> Api {
        Api {
            client: plain_client(),
            base: self.address.clone(),
            token: None,
        }
    }

    /// A browser-like client logged in as `user` through the login form.
    pub async fn browser(&self, user: &TestUser) -> Browser {
        let browser = Browser::new(&self.address);
        let response = browser
            .client
            .post(self.url("/login"))
            .form(&[
                ("email", user.email.as_str()),
                ("password", user.password.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "login as {} failed",
            user.email
        );
        browser
    }
}

fn plain_client() -> Client {
    Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .unwrap()
}

pub struct Api {
    pub client: Client,
    pub base: String,
    token: Option<String>,
}

impl Api {
    fn auth(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    pub async fn get(&self, path: &str) -> Response {
        self.auth(self.client.get(format!("{}{path}", self.base)))
            .send()
            .await
            .unwrap()
    }

    /// GETs `path` and reads its JSON body, whatever the status.
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        self.get(path).await.json().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.auth(self.client.post(format!("{}{path}", self.base)))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn put(&self, path: &str, body: &Value) -> Response {
        self.auth(self.client.put(format!("{}{path}", self.base)))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Response {
        self.auth(self.client.patch(format!("{}{path}", self.base)))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.auth(self.client.delete(format!("{}{path}", self.base)))
            .send()
            .await
            .unwrap()
    }

    /// A POST with no body and no content type.
    pub async fn post_empty(&self, path: &str) -> Response {
        self.auth(self.client.post(format!("{}{path}", self.base)))
            .send()
            .await
            .unwrap()
    }

    /// A POST with a raw body and content type, for malformed-input tests.
    pub async fn post_raw(&self, path: &str, content_type: &str, body: &str) -> Response {
        self.auth(self.client.post(format!("{}{path}", self.base)))
            .header("content-type", content_type)
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }
}

/// Reads an API error body and checks its shape.
pub async fn error_of(response: Response) -> (StatusCode, String, Option<String>) {
    let status = response.status();
    let body: Value = response.json().await.expect("errors are JSON");
    let error = &body["error"];
    let code = error["code"]
        .as_str()
        .expect("error.code is a string")
        .to_string();
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "error.message: {body}"
    );
    (status, code, error["field"].as_str().map(str::to_string))
}

pub struct Browser {
    pub client: Client,
    base: String,
}

impl Browser {
    pub fn new(base: &str) -> Self {
        Browser {
            client: Client::builder()
                .redirect(redirect::Policy::none())
                .cookie_store(true)
                .build()
                .unwrap(),
            base: base.to_string(),
        }
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    pub async fn get_html(&self, path: &str) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.text().await.unwrap()
    }

    /// The page's CSRF token, from its `<meta name="csrf-token">`.
    pub async fn csrf_token(&self) -> String {
        let html = self.get_html("/settings/profile").await;
        let marker = "name=\"csrf-token\" content=\"";
        let start = html.find(marker).expect("pages carry a CSRF token") + marker.len();
        html[start..start + html[start..].find('"').unwrap()].to_string()
    }

    /// Posts a form as the page would, with the session's CSRF token.
    pub async fn submit(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        let token = self.csrf_token().await;
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        form.push(("csrf_token", &token));
        self.client
            .post(format!("{}{path}", self.base))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// Posts a form with no CSRF token at all.
    pub async fn submit_without_token(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        self.client
            .post(format!("{}{path}", self.base))
            .form(fields)
            .send()
            .await
            .unwrap()
    }
}
