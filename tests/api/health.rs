use crate::helpers::spawn_app;

#[tokio::test]
async fn healthz_and_readyz_answer_ok_when_migrated() {
    let app = spawn_app().await;
    let health = reqwest::get(app.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = reqwest::get(app.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(
        ready.json::<serde_json::Value>().await.unwrap()["status"],
        "ready"
    );
}

#[tokio::test]
async fn readyz_reports_pending_migrations() {
    let app = spawn_app().await;
    sqlx::query("DELETE FROM _sqlx_migrations")
        .execute(&app.pool)
        .await
        .unwrap();
    let ready = reqwest::get(app.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 503);
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_security_headers() {
    let app = spawn_app().await;
    let response = reqwest::get(app.url("/login")).await.unwrap();
    let id = response.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 26);
    assert!(
        response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn the_openapi_document_describes_every_endpoint() {
    let app = spawn_app().await;
    let doc: serde_json::Value = reqwest::get(app.url("/api/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/me", "get"),
        ("/api/users", "get"),
        ("/api/channels", "get"),
        ("/api/channels", "post"),
        ("/api/tickets", "post"),
        ("/api/tickets/{id}", "get"),
        ("/api/tickets/{id}/messages", "post"),
        ("/api/tickets/{id}/notes", "post"),
        ("/api/tickets/{id}/assignee", "put"),
        ("/api/tickets/{id}/status", "put"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is documented"
        );
    }
}

#[tokio::test]
async fn the_service_s_connections_never_jit_compile_their_queries() {
    let app = spawn_app().await;
    let options: sqlx::postgres::PgConnectOptions = app.database_url().parse().unwrap();
    let pool = therethere::db::connect(options, 1).await.unwrap();
    let jit: String = sqlx::query_scalar("SHOW jit")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(jit, "off");
    let worker = therethere::db::claim_pool(&pool);
    let (jit, plans): (String, String) =
        sqlx::query_as("SELECT current_setting('jit'), current_setting('plan_cache_mode')")
            .fetch_one(&worker)
            .await
            .unwrap();
    assert_eq!((jit.as_str(), plans.as_str()), ("off", "force_custom_plan"));
}

/// While PostgreSQL cannot be reached, requests answer 503 with `Retry-After` (JSON on the API,
/// the error page for browsers), never 500, and `/readyz` says the database is down.
#[tokio::test]
async fn an_unreachable_database_answers_503_with_retry_after() {
    use std::time::Duration;
    // A database that is not there: a port nothing listens on.
    let port = crate::helpers::free_port();
    let options: sqlx::postgres::PgConnectOptions =
        format!("postgres://postgres@127.0.0.1:{port}/nothing")
            .parse()
            .unwrap();
    let pool = therethere::db::pool_options(2)
        .acquire_timeout(Duration::from_millis(300))
        .connect_lazy_with(options);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let vars = [
        ("APP_URL", base.as_str()),
        ("METRICS_ADDR", "off"),
        ("SECRETS_KEY", crate::helpers::TEST_SECRETS_KEY),
        ("ROLE", "web"),
    ];
    let config = therethere::config::Config::from_lookup(|k| {
        vars.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    })
    .unwrap();
    let state = therethere::web::state::AppState::new(pool, config);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(therethere::server::serve(listener, state, async {
        stopped.await.ok();
    }));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let api = client
        .get(format!("{base}/api/me"))
        .bearer_auth("tt_0000000000000000000000000000000000000000")
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 503);
    assert_eq!(api.headers()["retry-after"], "5");
    let body: serde_json::Value = api.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable");
    let page = client
        .post(format!("{base}/login"))
        .form(&[("email", "someone@example.com"), ("password", "whatever")])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 503);
    assert!(page.headers().contains_key("retry-after"));
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("cannot reach its database")
    );
    let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert_eq!(
        ready.json::<serde_json::Value>().await.unwrap()["database"],
        "down"
    );
    stop.send(()).ok();
}
