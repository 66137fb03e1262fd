//! The gateway: the tower layer in front of every gRPC service of a node. Each request passes,
//! in order:
//! 1. the **protocol check**: a caller announcing a newer wire protocol
//!    ([`orderstore_proto::PROTOCOL_HEADER`]) than this node speaks gets FAILED_PRECONDITION;
//! 2. **authentication and roles** ([`crate::security::auth`]), when `[security].auth` is on:
//!    UNAUTHENTICATED or PERMISSION_DENIED, audited;
//! 3. **admission** ([`crate::admission`]) for client requests: RESOURCE_EXHAUSTED with a
//!    retry hint when the node is saturated;
//!
//! and then the service. Admin calls (role `admin`) are written to the audit log with their
//! outcome.

use std::pin::Pin;
use std::sync::Arc;
use std::task::Context;
use std::task::Poll;

use cluster_config::Principal;
use cluster_config::Role;
use orderstore_proto::PROTOCOL_HEADER;
use orderstore_proto::PROTOCOL_VERSION;
use tonic::codegen::http;
use tonic::transport::server::TcpConnectInfo;
use tonic::transport::server::TlsConnectInfo;

use crate::admission::Admission;
use crate::admission::is_client_request;
use crate::metrics::NodeMetrics;
use crate::security::AuditLog;
use crate::security::AuditRecord;
use crate::security::Authenticator;
use crate::security::auth::required_role;
use crate::types::NodeId;

/// What the gateway enforces.
#[derive(Clone)]
pub struct Gateway {
    pub node_id: NodeId,
    pub admission: Arc<Admission>,
    pub auth: Option<Arc<Authenticator>>,
    pub audit: Option<Arc<AuditLog>>,
    pub metrics: NodeMetrics,
}

/// The wire-protocol version a request announces (1 when it announces none), or the refusal
/// of a newer or malformed one.
pub fn check_protocol(headers: &http::HeaderMap) -> Result<u32, tonic::Status> {
    let Some(v) = headers.get(PROTOCOL_HEADER) else {
        return Ok(1);
    };
    let version = v
        .to_str()
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .ok_or_else(|| {
            tonic::Status::invalid_argument(format!("{PROTOCOL_HEADER} is not a version number"))
        })?;
    if version > PROTOCOL_VERSION {
        return Err(tonic::Status::failed_precondition(format!(
            "the caller speaks wire protocol {version}; this node ({}) speaks up to \
             {PROTOCOL_VERSION}: upgrade the nodes before the clients",
            env!("CARGO_PKG_VERSION")
        )));
    }
    Ok(version)
}

impl<S> tower::Layer<S> for Gateway {
    type Service = GatewayService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        GatewayService {
            inner,
            gateway: self.clone(),
        }
    }
}

/// The service made by the [`Gateway`] layer.
#[derive(Clone)]
pub struct GatewayService<S> {
    inner: S,
    gateway: Gateway,
}

type BoxFuture<T> = Pin<Box<dyn std::future::Future<Output = T> + Send>>;

fn now_ms() -> u64 {
    crate::service::access::now_ms()
}

fn peer_of<B>(req: &http::Request<B>) -> String {
    let ext = req.extensions();
    ext.get::<TlsConnectInfo<TcpConnectInfo>>()
        .and_then(|i| i.get_ref().remote_addr())
        .or_else(|| ext.get::<TcpConnectInfo>().and_then(|i| i.remote_addr()))
        .map(|a| a.to_string())
        .unwrap_or_default()
}

/// gRPC status code of a response: from the headers (trailers-only responses: every error
/// tonic returns from a unary call), else OK.
fn outcome_of<RB>(res: &http::Response<RB>) -> String {
    let code = res
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map(tonic::Code::from_i32)
        .unwrap_or(tonic::Code::Ok);
    code_name(code)
}

fn code_name(code: tonic::Code) -> String {
    match code {
        tonic::Code::Ok => "OK".to_owned(),
        tonic::Code::Unauthenticated => "UNAUTHENTICATED".to_owned(),
        tonic::Code::PermissionDenied => "PERMISSION_DENIED".to_owned(),
        c => format!("{c:?}"),
    }
}

impl Gateway {
    fn audit(&self, principal: Option<&Principal>, peer: String, method: &str, outcome: String) {
        if let Some(log) = &self.audit {
            log.record(&AuditRecord {
                ts_ms: now_ms(),
                node: self.node_id,
                principal: principal.map(|p| p.name.clone()).unwrap_or_default(),
                role: principal.map(|p| p.role.to_string()).unwrap_or_default(),
                peer,
                method: method.to_owned(),
                outcome,
            });
        }
    }
}

impl<S, B, RB> tower::Service<http::Request<B>> for GatewayService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<RB>> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
    RB: Default + Send + 'static,
{
    type Response = http::Response<RB>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        // Keep the polled (ready) service for this call and leave a clone for the next one,
        // as tower's guidance for cloned services says.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let gw = self.gateway.clone();
        Box::pin(async move {
            if let Err(status) = check_protocol(req.headers()) {
                return Ok(status.into_http());
            }
            let path = req.uri().path().to_owned();
            let audited = gw.audit.is_some() && required_role(&path) == Some(Role::Admin);
            let mut principal = None;
            if let Some(auth) = &gw.auth {
                match auth.authorize(&req) {
                    Ok(p) => principal = p,
                    Err(e) => {
                        gw.metrics.auth_denied(e.reason());
                        // Every refusal is audited except a node's own peer traffic.
                        if !path.starts_with("/orderstore.v1.RaftTransport/") {
                            let who = auth.identify(&req).ok().flatten();
                            gw.audit(
                                who.as_ref(),
                                peer_of(&req),
                                &path,
                                code_name(e.to_status().code()),
                            );
                        }
                        return Ok(e.to_status().into_http());
                    }
                }
            }
            let peer = if audited {
                peer_of(&req)
            } else {
                String::new()
            };
            if let Some(p) = &principal {
                req.extensions_mut().insert(p.clone());
            }
            let _permit = if is_client_request(&path) {
                match gw.admission.admit().await {
                    Ok(p) => Some(p),
                    Err(r) => return Ok(gw.admission.status(r).into_http()),
                }
            } else {
                None
            };
            let res = inner.call(req).await;
            if audited && let Ok(r) = &res {
                gw.audit(principal.as_ref(), peer, &path, outcome_of(r));
            }
            res
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_protocols_are_refused() {
        let mut h = http::HeaderMap::new();
        assert_eq!(check_protocol(&h).unwrap(), 1);
        h.insert(
            PROTOCOL_HEADER,
            PROTOCOL_VERSION.to_string().parse().unwrap(),
        );
        assert_eq!(check_protocol(&h).unwrap(), PROTOCOL_VERSION);
        h.insert(
            PROTOCOL_HEADER,
            (PROTOCOL_VERSION + 1).to_string().parse().unwrap(),
        );
        let s = check_protocol(&h).unwrap_err();
        assert_eq!(s.code(), tonic::Code::FailedPrecondition);
        assert!(s.message().contains("upgrade the nodes"), "{}", s.message());
        h.insert(PROTOCOL_HEADER, "x".parse().unwrap());
        assert_eq!(
            check_protocol(&h).unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
    }
}
