//! Static assets compiled into the binary: no front-end build step, no files to deploy.

use axum::Router;
use axum::http::header;
use axum::routing::get;

use crate::web::state::AppState;

const STYLE_CSS: &str = include_str!("../../assets/style.css");
const APP_JS: &str = include_str!("../../assets/app.js");

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/assets/style.css",
            get(|| async {
                (
                    [
                        (header::CONTENT_TYPE, "text/css; charset=utf-8"),
                        (header::CACHE_CONTROL, "no-cache"),
                    ],
                    STYLE_CSS,
                )
            }),
        )
        .route(
            "/assets/app.js",
            get(|| async {
                (
                    [
                        (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
                        (header::CACHE_CONTROL, "no-cache"),
                    ],
                    APP_JS,
                )
            }),
        )
}
