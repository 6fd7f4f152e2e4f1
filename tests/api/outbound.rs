//! The outbound client against real receivers on loopback: signing, DNS rebinding,
//! redirects, timeouts and the response cap.

use std::net::IpAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::HeaderMap;
use therethere::outbound::client::{SIDEBAR, WEBHOOK};
use therethere::outbound::{
    Outbound, OutboundClient, OutboundFailure, OutboundPolicy, Signing, StaticLookup,
};

use crate::receiver::{Behaviour, Receiver};

const LOOPBACK_DEV: OutboundPolicy = OutboundPolicy {
    allow_private: true,
    allow_http: true,
};

fn client(
    profile: therethere::outbound::client::UseProfile,
    policy: OutboundPolicy,
) -> OutboundClient {
    OutboundClient::new(profile, policy, Arc::new(StaticLookup::default()))
}

fn url(s: &str) -> url::Url {
    url::Url::parse(s).unwrap()
}

#[tokio::test]
async fn the_signature_matches_an_independent_hmac_over_the_bytes_received() {
    let receiver = Receiver::start(Behaviour::Respond(200, "{}".into())).await;
    let body = Bytes::from_static(br#"{"email":"jane@example.com","note":"caf\u00e9 \u2603"}"#);
    let secret = "s3cr3t-with-'quotes'-and-$igns";
    let exchange = client(SIDEBAR, LOOPBACK_DEV)
        .post_json(
            &url(&receiver.url),
            body.clone(),
            Some(Signing {
                header: "x-there-there-signature",
                secret: secret.as_bytes(),
            }),
            HeaderMap::new(),
        )
        .await;
    assert!(exchange.is_success(), "{:?}", exchange.outcome);
    let got = receiver.wait_for(1).await.remove(0);
    assert_eq!(got.body, body, "the exact bytes arrive");
    assert_eq!(got.headers["content-type"], "application/json");
    assert!(
        got.headers["user-agent"]
            .to_str()
            .unwrap()
            .starts_with("therethere/")
    );
    let signature = got.headers["x-there-there-signature"].to_str().unwrap();

    // Python's hmac module, fed the received bytes on stdin.
    let python = Command::new("python3")
        .args(["-c", "import hmac,hashlib,sys; print(hmac.new(sys.argv[1].encode(), sys.stdin.buffer.read(), hashlib.sha256).hexdigest())", secret])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(&got.body)?;
            child.wait_with_output()
        })
        .expect("python3 runs");
    assert_eq!(String::from_utf8(python.stdout).unwrap().trim(), signature);

    // And openssl, over the same bytes written to a file.
    let file = std::env::temp_dir().join(format!("therethere-sig-{}", std::process::id()));
    std::fs::write(&file, &got.body).unwrap();
    let openssl = Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", secret])
        .arg(&file)
        .output()
        .expect("openssl runs");
    std::fs::remove_file(&file).ok();
    let printed = String::from_utf8(openssl.stdout).unwrap();
    assert_eq!(
        printed.trim().rsplit(' ').next().unwrap(),
        signature,
        "{printed}"
    );
}

#[tokio::test]
async fn a_name_that_turns_private_after_saving_is_refused_at_send_time() {
    let receiver = Receiver::start(Behaviour::Respond(200, "{}".into())).await;
    let lookup = StaticLookup::default();
    let public: IpAddr = "93.184.216.34".parse().unwrap();
    lookup.set("hooks.rebind.example", &[public]);
    // Plain http so the loopback receiver could answer, but private targets stay forbidden.
    let policy = OutboundPolicy {
        allow_private: false,
        allow_http: true,
    };
    let outbound = Outbound::new(policy, Arc::new(lookup.clone()));
    let target = format!("http://hooks.rebind.example:{}/hook", receiver.port);
    let saved = outbound
        .validate_url(&target)
        .await
        .expect("public at save time");

    lookup.set("hooks.rebind.example", &["127.0.0.1".parse().unwrap()]);
    let exchange = outbound
        .webhooks
        .post_json(&saved, Bytes::from_static(b"{}"), None, HeaderMap::new())
        .await;
    assert_eq!(
        exchange.outcome.unwrap_err(),
        OutboundFailure::Refused("resolves to a private address".into())
    );
    assert!(
        receiver.requests().is_empty(),
        "nothing reached the private address"
    );

    // Every address of the answer is dropped, IPv6 loopback included.
    lookup.set(
        "hooks.rebind.example",
        &["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()],
    );
    let exchange = outbound
        .webhooks
        .post_json(&saved, Bytes::from_static(b"{}"), None, HeaderMap::new())
        .await;
    assert!(matches!(exchange.outcome, Err(OutboundFailure::Refused(_))));
    assert!(receiver.requests().is_empty());
}

#[tokio::test]
async fn ip_literal_private_targets_are_refused_without_the_development_switch() {
    let receiver = Receiver::start(Behaviour::Respond(200, "{}".into())).await;
    let strict_http = OutboundPolicy {
        allow_private: false,
        allow_http: true,
    };
    for target in [
        receiver.url.clone(),
        format!("http://[::ffff:127.0.0.1]:{}/", receiver.port),
        format!("http://2130706433:{}/", receiver.port),
    ] {
        let exchange = client(WEBHOOK, strict_http)
            .post_json(&url(&target), Bytes::new(), None, HeaderMap::new())
            .await;
        assert!(
            matches!(exchange.outcome, Err(OutboundFailure::Refused(_))),
            "{target}"
        );
    }
    let strict = OutboundPolicy::default();
    let exchange = client(WEBHOOK, strict)
        .post_json(&url(&receiver.url), Bytes::new(), None, HeaderMap::new())
        .await;
    assert_eq!(
        exchange.outcome.unwrap_err(),
        OutboundFailure::Refused("must be an https:// URL".into())
    );
    assert!(receiver.requests().is_empty());
}

#[tokio::test]
async fn a_redirect_is_a_failed_response_and_is_not_followed() {
    let inner = Receiver::start(Behaviour::Respond(200, "{}".into())).await;
    let redirector = Receiver::start(Behaviour::Redirect(inner.url.clone())).await;
    let exchange = client(WEBHOOK, LOOPBACK_DEV)
        .post_json(
            &url(&redirector.url),
            Bytes::from_static(b"{}"),
            None,
            HeaderMap::new(),
        )
        .await;
    assert!(!exchange.is_success());
    let received = exchange.outcome.unwrap();
    assert_eq!(received.status, 302);
    assert!(
        received
            .headers
            .iter()
            .any(|(k, v)| k == "location" && *v == inner.url)
    );
    redirector.wait_for(1).await;
    assert!(
        inner.requests().is_empty(),
        "the redirect target was never called"
    );
}

#[tokio::test]
async fn a_slow_receiver_is_cut_at_the_three_second_sidebar_timeout() {
    let receiver = Receiver::start(Behaviour::Sleep(Duration::from_secs(10))).await;
    let exchange = client(SIDEBAR, LOOPBACK_DEV)
        .post_json(
            &url(&receiver.url),
            Bytes::from_static(b"{}"),
            None,
            HeaderMap::new(),
        )
        .await;
    assert_eq!(exchange.outcome.unwrap_err(), OutboundFailure::TimedOut);
    assert!(
        exchange.duration >= Duration::from_millis(2900),
        "{:?}",
        exchange.duration
    );
    assert!(
        exchange.duration < Duration::from_millis(3500),
        "{:?}",
        exchange.duration
    );
}

#[tokio::test]
async fn an_oversized_response_is_cut_at_the_cap() {
    let receiver = Receiver::start(Behaviour::Huge(8 * 1024 * 1024)).await;
    let exchange = client(SIDEBAR, LOOPBACK_DEV)
        .post_json(
            &url(&receiver.url),
            Bytes::from_static(b"{}"),
            None,
            HeaderMap::new(),
        )
        .await;
    let received = exchange.outcome.unwrap();
    assert!(received.truncated);
    assert_eq!(received.body.len(), 256 * 1024);
    let exchange = client(WEBHOOK, LOOPBACK_DEV)
        .post_json(
            &url(&receiver.url),
            Bytes::from_static(b"{}"),
            None,
            HeaderMap::new(),
        )
        .await;
    assert_eq!(exchange.outcome.unwrap().body.len(), 64 * 1024);
}

#[tokio::test]
async fn a_refused_connection_is_reported_as_such() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let exchange = client(WEBHOOK, LOOPBACK_DEV)
        .post_json(
            &url(&format!("http://127.0.0.1:{port}/")),
            Bytes::new(),
            None,
            HeaderMap::new(),
        )
        .await;
    match exchange.outcome {
        Err(OutboundFailure::Connect(reason)) => {
            assert!(reason.to_lowercase().contains("refused"), "{reason}")
        }
        other => panic!("expected a connection failure, got {other:?}"),
    }
}

#[tokio::test]
async fn the_request_record_holds_exactly_what_was_sent() {
    let receiver = Receiver::start(Behaviour::Respond(201, r#"{"ok":true}"#.into())).await;
    let exchange = client(WEBHOOK, LOOPBACK_DEV)
        .post_json(
            &url(&receiver.url),
            Bytes::from_static(b"{\"a\":1}"),
            Some(Signing {
                header: "therethere-signature",
                secret: b"k",
            }),
            HeaderMap::new(),
        )
        .await;
    let got = receiver.wait_for(1).await.remove(0);
    let recorded = |name: &str| {
        exchange
            .request
            .headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        recorded("therethere-signature").as_deref(),
        got.headers["therethere-signature"].to_str().ok()
    );
    assert_eq!(
        recorded("user-agent").as_deref(),
        got.headers["user-agent"].to_str().ok()
    );
    assert_eq!(exchange.request.body, got.body);
    let received = exchange.outcome.unwrap();
    assert_eq!(
        (received.status, received.body.as_ref()),
        (201, br#"{"ok":true}"#.as_ref())
    );
    assert!(
        received
            .headers
            .iter()
            .any(|(k, v)| k == "x-receiver" && v == "yes")
    );
}

/// TLS is spoken and certificates are checked against the webpki roots: a loopback receiver
/// with a self-signed certificate (openssl's own TLS server) is refused at the handshake.
#[tokio::test]
async fn an_https_receiver_with_an_untrusted_certificate_is_refused_at_the_handshake() {
    let dir = std::env::temp_dir().join(format!("therethere-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=hooks.tls.example", "-addext"])
        .args(["subjectAltName=DNS:hooks.tls.example", "-addext"])
        .args(["basicConstraints=critical,CA:FALSE", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(made.status.success(), "{made:?}");
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut server = Command::new("openssl")
        .args(["s_server", "-quiet", "-www", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("openssl s_server starts");
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        tokio::time::sleep(Duration::from_millis(10)).await; // openssl is starting
    }
    let lookup = StaticLookup::new(&[("hooks.tls.example", &["127.0.0.1".parse().unwrap()])]);
    let https_only_loopback = OutboundPolicy {
        allow_private: true,
        allow_http: false,
    };
    let exchange = OutboundClient::new(WEBHOOK, https_only_loopback, Arc::new(lookup))
        .post_json(
            &url(&format!("https://hooks.tls.example:{port}/")),
            Bytes::from_static(b"{}"),
            None,
            HeaderMap::new(),
        )
        .await;
    server.kill().ok();
    server.wait().ok();
    std::fs::remove_dir_all(&dir).ok();
    match exchange.outcome {
        Err(OutboundFailure::Connect(reason)) => {
            assert!(reason.contains("certificate: UnknownIssuer"), "{reason}")
        }
        other => panic!("expected a refused handshake, got {other:?}"),
    }
}
