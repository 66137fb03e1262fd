//! [`ClientError`]: every way an SDK call can fail, decoded from the server's `tonic::Status` and
//! its [`ErrorDetail`], and [`RetryMethod`]: what the retry loop does about each failure.

use std::time::Duration;

use orderstore_proto::v1::ErrorDetail;
use orderstore_proto::v1::ShardInfo;
use prost::Message;
use tonic::Code;

/// What the SDK's retry loop does with a failed attempt (redis-rs `retry_method()` style).
///
/// The loop re-sends the *same* request, idempotency key included, so every retry is safe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryMethod {
    /// The contacted node named the node to ask instead: retry there at once, without backoff.
    RetryAtHint {
        /// gRPC `host:port` of the node to retry at.
        addr: String,
    },
    /// The route was wrong and the server knew no better (leader unknown): refresh the routing
    /// cache from `ClusterStatus`, back off, and retry at another node.
    RefreshRoutes,
    /// A transient failure (no quorum, timeout, connection failure): back off and retry.
    Backoff,
    /// The node is overloaded and said when to come back: back off as for
    /// [`RetryMethod::Backoff`], but at least `min`, then retry.
    BackoffAtLeast {
        /// The server's `retry-after-ms` hint.
        min: Duration,
    },
    /// A definite answer: return it to the caller.
    NoRetry,
}

/// An SDK call's failure.
///
/// Variants that describe a definite answer (`InvalidArgument` .. `IdempotencyKeyReused`,
/// `DataLoss`, `Unauthenticated`, `PermissionDenied`, `Other`) are returned at once.
/// `NotLeader`, `WrongNode`, `Transport`, `Overloaded` and `Unavailable` are retried by the
/// [`crate::Client`]; when its retries or deadline run out it returns
/// [`ClientError::Unavailable`] naming the last cause, so callers of `Client` see the first four
/// only from [`ClientError::from_status`] (for code that drives tonic directly).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The request broke a limit or was malformed (gRPC INVALID_ARGUMENT); nothing changed.
    /// `field` is the request path that failed, e.g. `items[0].quantity` (empty when unknown).
    #[error("{message}")]
    InvalidArgument { field: String, message: String },
    /// The order (or other entity) does not exist (gRPC NOT_FOUND).
    #[error("{message}")]
    NotFound { message: String },
    /// The command does not apply in the order's current state (gRPC FAILED_PRECONDITION); the
    /// order is unchanged. `current_state` is its display status, e.g. `CANCELLED`.
    #[error("{message}")]
    IllegalTransition {
        current_state: String,
        message: String,
    },
    /// `expected_version` did not match (gRPC ABORTED); `current_version` is the order's version.
    #[error("{message}")]
    VersionConflict {
        current_version: u64,
        message: String,
    },
    /// The entity already exists (gRPC ALREADY_EXISTS).
    #[error("{message}")]
    AlreadyExists { message: String },
    /// Returned by mutating calls when the idempotency key was already used with a different
    /// request (gRPC ALREADY_EXISTS, kind IDEMPOTENCY_KEY_REUSED). Use a fresh key.
    #[error("{message}")]
    IdempotencyKeyReused { message: String },
    /// The contacted replica does not lead `shard_id`; `leader_addr` is the leader's gRPC address
    /// when the replica knows it. Retried by the client.
    #[error("not the leader of shard {shard_id}{}", hint_suffix(leader_addr))]
    NotLeader {
        shard_id: u64,
        leader_id: Option<u64>,
        leader_addr: Option<String>,
    },
    /// The contacted node carries no replica of `shard_id`; `hint` is a node that does.
    /// Retried by the client.
    #[error("node has no replica of shard {shard_id}{}", hint_suffix(hint))]
    WrongNode { shard_id: u64, hint: Option<String> },
    /// The cluster could not serve the request: the server said UNAVAILABLE (no quorum, proposal
    /// timeout), or the client's retries / deadline ran out; `message` names the last cause.
    /// Safe to retry later with the same idempotency key.
    #[error("unavailable: {message}")]
    Unavailable { message: String },
    /// The shard's replica failed a checksum and is quarantined (gRPC DATA_LOSS); an operator
    /// must repair it.
    #[error("data loss: {message}")]
    DataLoss { shard_id: u64, message: String },
    /// The request did not reach a server or no answer came back (connection refused, reset,
    /// client-side timeout). Retried by the client.
    #[error("transport error: {message}")]
    Transport { message: String },
    /// The node is overloaded (gRPC RESOURCE_EXHAUSTED) and shed the request before doing
    /// anything; `retry_after` is its `retry-after-ms` hint, when it gave one. Retried by the
    /// client, never sooner than the hint.
    #[error("overloaded: {message}{}", retry_after_suffix(retry_after))]
    Overloaded {
        retry_after: Option<Duration>,
        message: String,
    },
    /// The cluster did not accept the request's credentials (gRPC UNAUTHENTICATED): no token
    /// or client certificate, or an unknown or malformed token. Not retried.
    #[error("{message}")]
    Unauthenticated { message: String },
    /// The caller is authenticated but its role does not allow the call (gRPC
    /// PERMISSION_DENIED). Not retried.
    #[error("{message}")]
    PermissionDenied { message: String },
    /// The TLS handshake failed on certificates: the node's certificate is not signed by the
    /// trusted CA or does not name the dialled host, or the node refused ours (a fatal alert).
    /// Not retried: the same settings fail the same way. Recognized by rustls's wording in the
    /// transport error (`invalid peer certificate`, `received fatal alert`, `peer sent no
    /// certificates`).
    #[error("TLS handshake failed: {message}")]
    TlsHandshake { message: String },
    /// An endpoint given to the builder (or hinted by a server) is not a valid `host:port`.
    #[error("invalid endpoint {addr:?}: {message}")]
    InvalidEndpoint { addr: String, message: String },
    /// Returned by [`crate::ClientBuilder::build`] and [`crate::TlsOptions::from_files`] when
    /// the TLS files or PEMs are unusable (unreadable, no certificate, a certificate without its
    /// key) or the bearer token is not a valid header value. The message never quotes the
    /// token.
    #[error("invalid credentials: {message}")]
    InvalidCredentials { message: String },
    /// A reply lacked a field the protocol promises (a server bug or version skew).
    #[error("malformed reply: {what}")]
    MalformedReply { what: String },
    /// Anything else (INTERNAL, UNIMPLEMENTED, OUT_OF_RANGE, ...), with the gRPC code.
    #[error("{} ({})", message, code_name(*code))]
    Other { code: Code, message: String },
}

/// Whether a transport failure's text (causes included) is rustls refusing the handshake on
/// certificates, as opposed to a connection failure that may heal.
fn is_tls_refusal(message: &str) -> bool {
    const MARKERS: [&str; 3] = [
        "invalid peer certificate",
        "received fatal alert",
        "peer sent no certificates",
    ];
    MARKERS.iter().any(|m| message.contains(m))
}

fn retry_after_suffix(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(d) => format!(" (retry after {} ms)", d.as_millis()),
        None => String::new(),
    }
}

/// The `retry-after-ms` hint of an overloaded node: ASCII metadata holding milliseconds as a
/// `u64`. Absent or malformed: `None`.
pub(crate) const RETRY_AFTER_MS: &str = "retry-after-ms";

fn retry_after(status: &tonic::Status) -> Option<Duration> {
    let ms = status.metadata().get(RETRY_AFTER_MS)?.to_str().ok()?;
    ms.trim().parse::<u64>().ok().map(Duration::from_millis)
}

fn hint_suffix(addr: &Option<String>) -> String {
    match addr {
        Some(a) => format!(" (try {a})"),
        None => String::new(),
    }
}

impl ClientError {
    /// Decodes a failed call: the `ErrorDetail` in `status.details()` decides the variant; a
    /// status without a detail (one produced by tonic itself, or by a proxy) is classified by its
    /// code alone (UNAVAILABLE and CANCELLED without detail mean the transport failed,
    /// DEADLINE_EXCEEDED a timeout). RESOURCE_EXHAUSTED, UNAUTHENTICATED and PERMISSION_DENIED
    /// are classified by their code whatever the detail says (they come from the node's
    /// admission and authentication layers); RESOURCE_EXHAUSTED reads the `retry-after-ms`
    /// metadata. Never panics, whatever the bytes.
    pub fn from_status(status: &tonic::Status) -> ClientError {
        Self::decode(status).0
    }

    /// [`Self::from_status`] plus the shard's fresh descriptor, when the detail carried one.
    pub(crate) fn decode(status: &tonic::Status) -> (ClientError, Option<ShardInfo>) {
        let message = one_line(status.message());
        match status.code() {
            Code::ResourceExhausted => {
                let retry_after = retry_after(status);
                return (
                    ClientError::Overloaded {
                        retry_after,
                        message,
                    },
                    None,
                );
            }
            Code::Unauthenticated => return (ClientError::Unauthenticated { message }, None),
            Code::PermissionDenied => return (ClientError::PermissionDenied { message }, None),
            _ => {}
        }
        let detail = if status.details().is_empty() {
            None
        } else {
            ErrorDetail::decode(status.details())
                .ok()
                .filter(|d| !d.kind.is_empty())
        };
        let Some(d) = detail else {
            return (
                Self::from_code(status.code(), with_causes(message, status)),
                None,
            );
        };
        let fresh = d.shard.clone();
        let leader_addr = (!d.leader_addr.is_empty()).then(|| d.leader_addr.clone());
        let err = match d.kind.as_str() {
            "INVALID_ARGUMENT" => ClientError::InvalidArgument {
                field: d.field,
                message,
            },
            "NOT_FOUND" => ClientError::NotFound { message },
            // FAILED_PRECONDITION: a ledger or saga refused in its current state (not enough
            // stock or money, a saga not parked, past its pivot); SAGA_CONFLICT: the order's
            // purchase saga forbids the command. Both: the state forbids it; re-read, don't
            // retry blindly.
            "ILLEGAL_TRANSITION" | "FAILED_PRECONDITION" | "SAGA_CONFLICT" => {
                ClientError::IllegalTransition {
                    current_state: d.current_state,
                    message,
                }
            }
            "VERSION_CONFLICT" => ClientError::VersionConflict {
                current_version: d.current_version,
                message,
            },
            "ALREADY_EXISTS" => ClientError::AlreadyExists { message },
            "IDEMPOTENCY_KEY_REUSED" => ClientError::IdempotencyKeyReused { message },
            "NOT_LEADER" => ClientError::NotLeader {
                shard_id: d.shard_id,
                leader_id: (d.leader_id != 0).then_some(d.leader_id),
                leader_addr,
            },
            "WRONG_NODE" => ClientError::WrongNode {
                shard_id: d.shard_id,
                hint: leader_addr,
            },
            "SHARD_QUARANTINED" => ClientError::DataLoss {
                shard_id: d.shard_id,
                message,
            },
            "UNAVAILABLE" => ClientError::Unavailable { message },
            // INTERNAL and kinds newer than this SDK keep the status code.
            _ => Self::from_code(status.code(), message),
        };
        (err, fresh)
    }

    fn from_code(code: Code, message: String) -> ClientError {
        match code {
            Code::InvalidArgument => ClientError::InvalidArgument {
                field: String::new(),
                message,
            },
            Code::NotFound => ClientError::NotFound { message },
            Code::AlreadyExists => ClientError::AlreadyExists { message },
            Code::DataLoss => ClientError::DataLoss {
                shard_id: 0,
                message,
            },
            // Without our ErrorDetail, UNKNOWN comes from the transport, not from a node (tonic
            // reports a reset or GOAWAY of the HTTP/2 connection, e.g. when the node was killed,
            // as UNKNOWN): retryable like any connection failure.
            Code::Unavailable | Code::Unknown if is_tls_refusal(&message) => {
                ClientError::TlsHandshake { message }
            }
            Code::Unavailable | Code::Cancelled | Code::Unknown => {
                ClientError::Transport { message }
            }
            Code::DeadlineExceeded => ClientError::Transport {
                message: format!("request timed out: {message}"),
            },
            code => ClientError::Other { code, message },
        }
    }

    /// What the retry loop does with this error. See [`RetryMethod`].
    pub fn retry_method(&self) -> RetryMethod {
        match self {
            ClientError::NotLeader {
                leader_addr: Some(addr),
                ..
            }
            | ClientError::WrongNode {
                hint: Some(addr), ..
            } => RetryMethod::RetryAtHint { addr: addr.clone() },
            ClientError::NotLeader {
                leader_addr: None, ..
            }
            | ClientError::WrongNode { hint: None, .. } => RetryMethod::RefreshRoutes,
            ClientError::Unavailable { .. }
            | ClientError::Transport { .. }
            | ClientError::Overloaded {
                retry_after: None, ..
            } => RetryMethod::Backoff,
            ClientError::Overloaded {
                retry_after: Some(min),
                ..
            } => RetryMethod::BackoffAtLeast { min: *min },
            ClientError::InvalidArgument { .. }
            | ClientError::NotFound { .. }
            | ClientError::IllegalTransition { .. }
            | ClientError::VersionConflict { .. }
            | ClientError::AlreadyExists { .. }
            | ClientError::IdempotencyKeyReused { .. }
            | ClientError::DataLoss { .. }
            | ClientError::Unauthenticated { .. }
            | ClientError::PermissionDenied { .. }
            | ClientError::InvalidEndpoint { .. }
            | ClientError::InvalidCredentials { .. }
            | ClientError::TlsHandshake { .. }
            | ClientError::MalformedReply { .. }
            | ClientError::Other { .. } => RetryMethod::NoRetry,
        }
    }

    /// Whether retrying the same request (same idempotency key) may succeed.
    pub fn is_retryable(&self) -> bool {
        self.retry_method() != RetryMethod::NoRetry
    }

    /// The gRPC code this error corresponds to (the server's code for server answers).
    pub fn code(&self) -> Code {
        match self {
            ClientError::InvalidArgument { .. }
            | ClientError::InvalidEndpoint { .. }
            | ClientError::InvalidCredentials { .. } => Code::InvalidArgument,
            ClientError::NotFound { .. } => Code::NotFound,
            ClientError::IllegalTransition { .. } => Code::FailedPrecondition,
            ClientError::VersionConflict { .. } => Code::Aborted,
            ClientError::AlreadyExists { .. } | ClientError::IdempotencyKeyReused { .. } => {
                Code::AlreadyExists
            }
            ClientError::NotLeader { .. }
            | ClientError::WrongNode { .. }
            | ClientError::Unavailable { .. }
            | ClientError::Transport { .. }
            | ClientError::TlsHandshake { .. } => Code::Unavailable,
            ClientError::DataLoss { .. } => Code::DataLoss,
            ClientError::Overloaded { .. } => Code::ResourceExhausted,
            ClientError::Unauthenticated { .. } => Code::Unauthenticated,
            ClientError::PermissionDenied { .. } => Code::PermissionDenied,
            ClientError::MalformedReply { .. } => Code::Internal,
            ClientError::Other { code, .. } => *code,
        }
    }
}

/// The canonical upper-case name of a gRPC code, e.g. `FAILED_PRECONDITION`.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// `message` followed by the status's chain of causes (tonic's own transport statuses say only
/// "tcp connect error"; the cause says "Connection refused").
fn with_causes(message: String, status: &tonic::Status) -> String {
    let mut out = message;
    let mut cause = std::error::Error::source(status);
    while let Some(c) = cause {
        let text = one_line(&c.to_string());
        if !text.is_empty() && !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

/// Server messages are shown on one line: newlines become spaces.
fn one_line(s: &str) -> String {
    s.split(['\n', '\r'])
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: Code, message: &str, detail: ErrorDetail) -> tonic::Status {
        tonic::Status::with_details(code, message, detail.encode_to_vec().into())
    }

    fn detail(kind: &str) -> ErrorDetail {
        ErrorDetail {
            kind: kind.to_string(),
            ..Default::default()
        }
    }

    /// A connection reset surfaces from tonic as UNKNOWN without our detail (seen when a node is
    /// SIGKILLed mid-request): it is a transport failure and is retried, not returned.
    #[test]
    fn connection_reset_without_detail_is_a_retryable_transport_error() {
        let reset = tonic::Status::unknown("transport error: connection error: connection reset");
        let err = ClientError::from_status(&reset);
        assert!(matches!(err, ClientError::Transport { .. }), "{err:?}");
        assert!(err.is_retryable());
    }

    /// Ledger and saga refusals (`FAILED_PRECONDITION`, `SAGA_CONFLICT`) are definite answers
    /// about the current state, never retried.
    #[test]
    fn ledger_and_saga_refusals_are_illegal_transitions() {
        for (code, kind) in [
            (Code::FailedPrecondition, "FAILED_PRECONDITION"),
            (Code::Aborted, "SAGA_CONFLICT"),
        ] {
            let err = ClientError::from_status(&status(code, "refused", detail(kind)));
            assert!(
                matches!(err, ClientError::IllegalTransition { .. }),
                "{kind}: {err:?}"
            );
            assert_eq!(err.retry_method(), RetryMethod::NoRetry);
        }
    }

    /// Each server error kind decodes to its variant with the detail's data, and is classified.
    #[test]
    fn decodes_every_kind_with_its_data() {
        let cases: Vec<(tonic::Status, ClientError, RetryMethod)> = vec![
            (
                status(
                    Code::InvalidArgument,
                    "invalid items[0].quantity: must be at least 1",
                    ErrorDetail {
                        field: "items[0].quantity".into(),
                        ..detail("INVALID_ARGUMENT")
                    },
                ),
                ClientError::InvalidArgument {
                    field: "items[0].quantity".into(),
                    message: "invalid items[0].quantity: must be at least 1".into(),
                },
                RetryMethod::NoRetry,
            ),
            (
                status(Code::NotFound, "order o_x not found", detail("NOT_FOUND")),
                ClientError::NotFound {
                    message: "order o_x not found".into(),
                },
                RetryMethod::NoRetry,
            ),
            (
                status(
                    Code::FailedPrecondition,
                    "cannot SHIP order in state CANCELLED: order is cancelled",
                    ErrorDetail {
                        current_state: "CANCELLED".into(),
                        ..detail("ILLEGAL_TRANSITION")
                    },
                ),
                ClientError::IllegalTransition {
                    current_state: "CANCELLED".into(),
                    message: "cannot SHIP order in state CANCELLED: order is cancelled".into(),
                },
                RetryMethod::NoRetry,
            ),
            (
                status(
                    Code::Aborted,
                    "version conflict",
                    ErrorDetail {
                        current_version: 7,
                        ..detail("VERSION_CONFLICT")
                    },
                ),
                ClientError::VersionConflict {
                    current_version: 7,
                    message: "version conflict".into(),
                },
                RetryMethod::NoRetry,
            ),
            (
                status(
                    Code::AlreadyExists,
                    "key reused",
                    detail("IDEMPOTENCY_KEY_REUSED"),
                ),
                ClientError::IdempotencyKeyReused {
                    message: "key reused".into(),
                },
                RetryMethod::NoRetry,
            ),
            (
                status(Code::AlreadyExists, "exists", detail("ALREADY_EXISTS")),
                ClientError::AlreadyExists {
                    message: "exists".into(),
                },
                RetryMethod::NoRetry,
            ),
            (
                status(
                    Code::Unavailable,
                    "not the leader of shard 3",
                    ErrorDetail {
                        shard_id: 3,
                        leader_id: 2,
                        leader_addr: "127.0.0.1:7002".into(),
                        ..detail("NOT_LEADER")
                    },
                ),
                ClientError::NotLeader {
                    shard_id: 3,
                    leader_id: Some(2),
                    leader_addr: Some("127.0.0.1:7002".into()),
                },
                RetryMethod::RetryAtHint {
                    addr: "127.0.0.1:7002".into(),
                },
            ),
            (
                status(
                    Code::Unavailable,
                    "no leader",
                    ErrorDetail {
                        shard_id: 0,
                        ..detail("NOT_LEADER")
                    },
                ),
                ClientError::NotLeader {
                    shard_id: 0,
                    leader_id: None,
                    leader_addr: None,
                },
                RetryMethod::RefreshRoutes,
            ),
            (
                status(
                    Code::Unavailable,
                    "wrong node",
                    ErrorDetail {
                        shard_id: 5,
                        leader_addr: "h:1".into(),
                        ..detail("WRONG_NODE")
                    },
                ),
                ClientError::WrongNode {
                    shard_id: 5,
                    hint: Some("h:1".into()),
                },
                RetryMethod::RetryAtHint { addr: "h:1".into() },
            ),
            (
                status(
                    Code::DataLoss,
                    "quarantined",
                    ErrorDetail {
                        shard_id: 4,
                        ..detail("SHARD_QUARANTINED")
                    },
                ),
                ClientError::DataLoss {
                    shard_id: 4,
                    message: "quarantined".into(),
                },
                RetryMethod::NoRetry,
            ),
            (
                status(Code::Unavailable, "no quorum", detail("UNAVAILABLE")),
                ClientError::Unavailable {
                    message: "no quorum".into(),
                },
                RetryMethod::Backoff,
            ),
            (
                status(Code::Internal, "boom", detail("INTERNAL")),
                ClientError::Other {
                    code: Code::Internal,
                    message: "boom".into(),
                },
                RetryMethod::NoRetry,
            ),
        ];
        for (status, want, method) in cases {
            let got = ClientError::from_status(&status);
            assert_eq!(got, want, "decoding {status:?}");
            assert_eq!(got.retry_method(), method, "classifying {got:?}");
            assert_eq!(got.is_retryable(), method != RetryMethod::NoRetry);
            assert_eq!(got.code(), status.code(), "code of {got:?}");
        }
    }

    /// Statuses without a detail (made by tonic or a proxy) fall back to their code; garbage
    /// detail bytes never panic.
    #[test]
    fn statuses_without_detail_are_classified_by_code() {
        let refused = tonic::Status::unavailable("tcp connect error");
        assert!(matches!(
            ClientError::from_status(&refused),
            ClientError::Transport { .. }
        ));
        assert_eq!(
            ClientError::from_status(&refused).retry_method(),
            RetryMethod::Backoff
        );

        let timeout = tonic::Status::deadline_exceeded("Timeout expired");
        assert_eq!(
            ClientError::from_status(&timeout).retry_method(),
            RetryMethod::Backoff
        );

        let garbage =
            tonic::Status::with_details(Code::Internal, "x", vec![0xff, 0xff, 0x01].into());
        assert_eq!(
            ClientError::from_status(&garbage),
            ClientError::Other {
                code: Code::Internal,
                message: "x".into()
            }
        );

        let bad_input = tonic::Status::invalid_argument("bad\nthing");
        assert_eq!(
            ClientError::from_status(&bad_input),
            ClientError::InvalidArgument {
                field: String::new(),
                message: "bad thing".into()
            }
        );
    }

    fn overloaded(retry_after_ms: Option<&str>) -> tonic::Status {
        let mut s = tonic::Status::resource_exhausted("node overloaded: 512 requests in flight");
        if let Some(ms) = retry_after_ms {
            s.metadata_mut().insert(RETRY_AFTER_MS, ms.parse().unwrap());
        }
        s
    }

    /// RESOURCE_EXHAUSTED is a retryable `Overloaded` carrying the `retry-after-ms` hint as
    /// the backoff's floor; a missing or malformed hint means plain backoff.
    #[test]
    fn overload_is_retryable_with_the_servers_hint() {
        let err = ClientError::from_status(&overloaded(Some("1500")));
        assert_eq!(
            err,
            ClientError::Overloaded {
                retry_after: Some(Duration::from_millis(1500)),
                message: "node overloaded: 512 requests in flight".into(),
            }
        );
        assert_eq!(
            err.retry_method(),
            RetryMethod::BackoffAtLeast {
                min: Duration::from_millis(1500)
            }
        );
        assert!(err.is_retryable());
        assert_eq!(err.code(), Code::ResourceExhausted);
        assert_eq!(
            err.to_string(),
            "overloaded: node overloaded: 512 requests in flight (retry after 1500 ms)"
        );
        for hint in [None, Some("soon"), Some("-5"), Some("")] {
            let err = ClientError::from_status(&overloaded(hint));
            assert!(
                matches!(
                    err,
                    ClientError::Overloaded {
                        retry_after: None,
                        ..
                    }
                ),
                "{hint:?}: {err:?}"
            );
            assert_eq!(err.retry_method(), RetryMethod::Backoff);
        }
        // The code decides even when a detail names another kind.
        let with_detail = status(Code::ResourceExhausted, "shed", detail("UNAVAILABLE"));
        assert!(matches!(
            ClientError::from_status(&with_detail),
            ClientError::Overloaded { .. }
        ));
    }

    /// Authentication and authorization failures are typed and never retried: resending the
    /// same credentials cannot succeed.
    #[test]
    fn auth_failures_are_typed_and_final() {
        let cases = [
            (
                tonic::Status::unauthenticated("missing bearer token or client certificate"),
                ClientError::Unauthenticated {
                    message: "missing bearer token or client certificate".into(),
                },
            ),
            (
                tonic::Status::permission_denied("role reader may not call PlaceOrder"),
                ClientError::PermissionDenied {
                    message: "role reader may not call PlaceOrder".into(),
                },
            ),
            (
                status(
                    Code::PermissionDenied,
                    "denied",
                    detail("PERMISSION_DENIED"),
                ),
                ClientError::PermissionDenied {
                    message: "denied".into(),
                },
            ),
        ];
        for (status, want) in cases {
            let got = ClientError::from_status(&status);
            assert_eq!(got, want);
            assert_eq!(got.retry_method(), RetryMethod::NoRetry);
            assert_eq!(got.code(), status.code());
        }
    }

    /// A handshake refused on certificates is final; other transport failures stay retryable.
    #[test]
    fn tls_refusals_are_not_retried() {
        for text in [
            "transport error: invalid peer certificate: UnknownIssuer",
            "transport error: received fatal alert: UnknownCA",
        ] {
            let err = ClientError::from_status(&tonic::Status::unavailable(text));
            assert!(matches!(err, ClientError::TlsHandshake { .. }), "{err:?}");
            assert_eq!(err.retry_method(), RetryMethod::NoRetry);
        }
        let refused = tonic::Status::unavailable("tcp connect error: Connection refused");
        assert!(ClientError::from_status(&refused).is_retryable());
    }

    /// A fresh shard descriptor in the detail is handed to the routing cache.
    #[test]
    fn decode_hands_over_a_fresh_descriptor() {
        let shard = ShardInfo {
            id: 9,
            range_start: 10,
            range_end: 20,
            ..Default::default()
        };
        let s = status(
            Code::Unavailable,
            "not leader",
            ErrorDetail {
                shard_id: 9,
                shard: Some(shard.clone()),
                ..detail("NOT_LEADER")
            },
        );
        let (err, fresh) = ClientError::decode(&s);
        assert!(matches!(err, ClientError::NotLeader { shard_id: 9, .. }));
        assert_eq!(fresh, Some(shard));
    }

    #[test]
    fn display_is_one_line_and_names_the_code_for_other() {
        let e = ClientError::Other {
            code: Code::Internal,
            message: "boom".into(),
        };
        assert_eq!(e.to_string(), "boom (INTERNAL)");
        let e = ClientError::NotLeader {
            shard_id: 1,
            leader_id: None,
            leader_addr: Some("a:1".into()),
        };
        assert_eq!(e.to_string(), "not the leader of shard 1 (try a:1)");
    }
}
