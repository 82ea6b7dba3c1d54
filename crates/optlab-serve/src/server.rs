//! The router and the server loop.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpListener;

use crate::error::{ApiError, parse_body};
use crate::{assets, catalog, files, trajectory};

/// Largest request body accepted (bytes); larger ones are refused with a 400.
pub const BODY_LIMIT: usize = 64 * 1024;

/// What handlers share: the directory whose `runs/` and `reports/` are browsed.
#[derive(Clone, Debug)]
struct AppState {
    base: Arc<PathBuf>,
}

/// The application: the page, the JSON API under `/api/` and the file browser under `/files/`,
/// browsing `runs/` and `reports/` of `base`.
pub fn router(base: PathBuf) -> Router {
    Router::new()
        .route("/api/health", get(health))
        .route("/api/catalog", get(catalog_handler))
        .route("/api/trajectory", post(trajectory_handler))
        .route("/api/contours", post(contours_handler))
        .route("/api/files", get(list_handler))
        .route("/files/{*path}", get(file_handler))
        .fallback(get(asset_handler).post(not_found))
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(AppState {
            base: Arc::new(base),
        })
}

/// Binds `addr` (port 0: any free port).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves `router(base)` on `listener` until `shutdown` completes, then finishes the requests in
/// flight and returns.
pub async fn serve(
    listener: TcpListener,
    base: PathBuf,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(base))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Runs a computation on the blocking pool (it uses rayon; it must not stall the event loop). A
/// panic is answered as a 500 and the server keeps going.
async fn compute<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        ApiError::Internal(format!(
            "the computation failed: {e}; please report this request"
        ))
    })?
}

fn json_response(v: impl serde::Serialize) -> Response {
    axum::Json(v).into_response()
}

async fn health() -> Response {
    json_response(json!({ "ok": true, "version": env!("CARGO_PKG_VERSION") }))
}

async fn catalog_handler() -> Result<Response, ApiError> {
    compute(|| Ok(catalog::catalog())).await.map(json_response)
}

async fn trajectory_handler(body: Result<Bytes, BytesRejection>) -> Result<Response, ApiError> {
    let req: trajectory::TrajectoryRequest = parse_body(body)?;
    compute(move || trajectory::trajectory(req))
        .await
        .map(json_response)
}

async fn contours_handler(body: Result<Bytes, BytesRejection>) -> Result<Response, ApiError> {
    let req: trajectory::ContoursRequest = parse_body(body)?;
    compute(move || trajectory::contours(req))
        .await
        .map(json_response)
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    path: String,
}

async fn list_handler(
    State(s): State<AppState>,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad(format!("query: {e}")))?;
    compute(move || files::list(&s.base, &q.path))
        .await
        .map(json_response)
}

async fn file_handler(
    State(s): State<AppState>,
    axum::extract::Path(path): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    let (ct, bytes) = compute(move || files::read(&s.base, &path)).await?;
    Ok(([(header::CONTENT_TYPE, ct)], bytes).into_response())
}

async fn asset_handler(uri: Uri) -> Response {
    if uri.path().starts_with("/api/") {
        return not_found(uri).await;
    }
    match assets::get(uri.path()) {
        Some(a) => (
            [
                (header::CONTENT_TYPE, a.content_type),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            a.body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

async fn wrong_method(method: axum::http::Method, uri: Uri) -> Response {
    let allowed = match uri.path() {
        "/api/trajectory" | "/api/contours" => "POST",
        _ => "GET",
    };
    let message = format!("{method} {}: use {allowed}", uri.path());
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::ALLOW, allowed)],
        axum::Json(json!({ "error": message })),
    )
        .into_response()
}

async fn not_found(uri: Uri) -> Response {
    ApiError::NotFound(format!("no endpoint `{}`", uri.path())).into_response()
}
