//! The node's HTTP status port: `/metrics` (Prometheus text), `/livez`, `/readyz`.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::host::ShardHost;

/// Serves the status endpoints on `listener` until `shutdown` completes.
///
/// - `/livez`: 200 while the process runs.
/// - `/readyz`: 200 when every local shard replica knows its leader and the node's clock is
///   trusted ([`crate::clock`]: it may propose), 503 with the reason otherwise; 503 `draining`
///   from the start of a graceful shutdown ([`crate::drain`]) until the port closes; 503 with
///   the error for the rest of the process's life once a WAL sync failed.
/// - `/metrics`: Prometheus text exposition of [`crate::metrics::NodeMetrics`].
pub async fn serve(
    listener: TcpListener,
    host: ShardHost,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/livez", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(host);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn readyz(State(host): State<ShardHost>) -> impl IntoResponse {
    if host.is_draining() {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining\n".to_string());
    }
    if let Some(e) = host.storage_failed() {
        return (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n"));
    }
    if !host.all_shards_have_leader() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "waiting for shard leaders\n".to_string(),
        );
    }
    match host.clock().check() {
        Ok(()) => (StatusCode::OK, "ready\n".to_string()),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")),
    }
}

async fn metrics(State(host): State<ShardHost>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        host.metrics().encode(),
    )
}
