//! Real HTTP receivers on 127.0.0.1 that record what reaches them and answer as told.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use tokio::sync::Notify;

/// How a receiver answers every request.
#[derive(Clone)]
pub enum Behaviour {
    /// This status with this body (as JSON).
    Respond(u16, String),
    /// Waits this long before answering 200.
    Sleep(Duration),
    /// Waits, then answers this status and body.
    Delayed(Duration, u16, String),
    /// Answers a redirect to this location.
    Redirect(String),
    /// Streams this many bytes of body.
    Huge(usize),
    /// Answers the n-th request with the n-th (status, body); the last one repeats.
    Sequence(Vec<(u16, String)>),
    /// Answers the first n requests 500 at once, then hangs for 10 s on every later one.
    FailThenHang(usize),
    /// Answers the first request 429 with this `Retry-After`, every later one 200.
    Throttle(String),
    /// 200 with ~360 KB of headers and 100 KB of bytes that are not UTF-8.
    Hostile,
    /// (Resolved per request) 429 with this `Retry-After`.
    TooManyRequests(String),
}

#[derive(Debug, Clone)]
pub struct Captured {
    pub headers: HeaderMap,
    pub body: Bytes,
}

pub struct Receiver {
    pub url: String,
    pub port: u16,
    captured: Arc<Mutex<Vec<Captured>>>,
    arrived: Arc<Notify>,
}

impl Receiver {
    pub async fn start(behaviour: Behaviour) -> Receiver {
        let captured: Arc<Mutex<Vec<Captured>>> = Arc::default();
        let arrived = Arc::new(Notify::new());
        let (c, a) = (captured.clone(), arrived.clone());
        let app = Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
            let (c, a, behaviour) = (c.clone(), a.clone(), behaviour.clone());
            async move {
                let index = {
                    let mut seen = c.lock().unwrap();
                    seen.push(Captured { headers, body });
                    seen.len() - 1
                };
                a.notify_waiters();
                let behaviour = match behaviour {
                    Behaviour::Sequence(steps) => {
                        let (status, body) = steps[index.min(steps.len() - 1)].clone();
                        Behaviour::Respond(status, body)
                    }
                    Behaviour::FailThenHang(n) if index < n => Behaviour::Respond(500, "{}".into()),
                    Behaviour::FailThenHang(_) => Behaviour::Sleep(Duration::from_secs(10)),
                    Behaviour::Throttle(wait) if index == 0 => Behaviour::TooManyRequests(wait),
                    Behaviour::Throttle(_) => Behaviour::Respond(200, "{}".into()),
                    other => other,
                };
                respond(behaviour).await
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await.ok() });
        Receiver {
            url: format!("http://127.0.0.1:{port}/hook"),
            port,
            captured,
            arrived,
        }
    }

    /// What arrived so far. Every webhook the service sent among it (a request with a
    /// `webhook-id`) is checked against its type's published JSON Schema, so each payload any
    /// test produces is validated.
    pub fn requests(&self) -> Vec<Captured> {
        let seen = self.captured.lock().unwrap().clone();
        for request in &seen {
            if request.headers.contains_key("webhook-id") {
                crate::payload_schemas::assert_valid_payload(&request.body);
            }
        }
        seen
    }

    /// Waits until at least `n` requests have arrived (bounded, so a bug fails rather than hangs).
    pub async fn wait_for(&self, n: usize) -> Vec<Captured> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let notified = self.arrived.notified();
            let seen = self.requests();
            if seen.len() >= n {
                return seen;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("expected {n} requests, got {}", self.requests().len());
            }
        }
    }
}

async fn respond(behaviour: Behaviour) -> Response {
    match behaviour {
        Behaviour::Respond(status, body) => Response::builder()
            .status(StatusCode::from_u16(status).unwrap())
            .header("content-type", "application/json")
            .header("x-receiver", "yes")
            .body(Body::from(body))
            .unwrap(),
        Behaviour::Sleep(duration) => {
            tokio::time::sleep(duration).await;
            Response::new(Body::from("{}"))
        }
        Behaviour::Delayed(wait, status, body) => {
            tokio::time::sleep(wait).await;
            Box::pin(respond(Behaviour::Respond(status, body))).await
        }
        Behaviour::Redirect(location) => Response::builder()
            .status(StatusCode::FOUND)
            .header("location", location)
            .body(Body::empty())
            .unwrap(),
        Behaviour::Huge(size) => {
            let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
            let chunks = size.div_ceil(chunk.len());
            let stream = futures::stream::iter(
                (0..chunks).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
            );
            Response::new(Body::from_stream(stream))
        }
        Behaviour::Hostile => {
            let mut response = Response::builder().status(StatusCode::OK);
            for i in 0..40 {
                response = response.header(format!("x-hostile-{i}"), "é".repeat(4_500));
            }
            response
                .body(Body::from(vec![0xFF_u8; 100 * 1024]))
                .unwrap()
        }
        Behaviour::TooManyRequests(wait) => Response::builder()
            .status(StatusCode::TOO_MANY_REQUESTS)
            .header("retry-after", wait)
            .body(Body::from("{}"))
            .unwrap(),
        Behaviour::Sequence(_) | Behaviour::FailThenHang(_) | Behaviour::Throttle(_) => {
            unreachable!("resolved to one step per request")
        }
    }
}
