//! Authentication and authorisation of gRPC requests: who is calling (a bearer token or a
//! client certificate) and whether their role permits the method.
//!
//! - A bearer token (`authorization: Bearer <token>`) is looked up, hashed, in the token file
//!   ([`cluster_config::TokenStore`]).
//! - Otherwise a verified client certificate names the principal: subject CN is the name, OU
//!   the role (`reader`, `writer`, `admin`, `node`). Only the CA can issue them, so a role in a
//!   certificate is as trustworthy as the CA's key.
//! - Every method has a required role ([`required_role`]); unknown methods need `admin`
//!   (fail closed). Health checks need none, so probes work without credentials.
//!
//! Tokens are never logged, not even when refused.

use std::sync::Arc;

use cluster_config::Principal;
use cluster_config::Role;
use cluster_config::TokenStore;
use tonic::codegen::http;
use tonic::transport::server::TcpConnectInfo;
use tonic::transport::server::TlsConnectInfo;

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Returned when the request carries no credentials, or a token the node does not know.
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// Returned when the principal's role is below the method's.
    #[error("permission denied: {principal} has role {role}, {method} needs {required}")]
    PermissionDenied {
        principal: String,
        role: Role,
        method: String,
        required: Role,
    },
}

impl AuthError {
    pub fn to_status(&self) -> tonic::Status {
        match self {
            AuthError::Unauthenticated(_) => tonic::Status::unauthenticated(self.to_string()),
            AuthError::PermissionDenied { .. } => {
                tonic::Status::permission_denied(self.to_string())
            }
        }
    }

    /// Metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::Unauthenticated(_) => "unauthenticated",
            AuthError::PermissionDenied { .. } => "permission_denied",
        }
    }
}

/// The role a gRPC method needs; `None` for methods open to anyone (health checks).
pub fn required_role(path: &str) -> Option<Role> {
    let (service, method) = path
        .trim_start_matches('/')
        .split_once('/')
        .unwrap_or((path, ""));
    let role = match (service, method) {
        ("grpc.health.v1.Health", _) => return None,
        ("orderstore.v1.RaftTransport", _) => Role::Node,
        ("grpc.reflection.v1.ServerReflection" | "grpc.reflection.v1alpha.ServerReflection", _) => {
            Role::Reader
        }
        ("orderstore.v1.OrderService", "GetOrder" | "ListOrderEvents")
        | ("orderstore.v1.InventoryService", "GetStock")
        | ("orderstore.v1.PaymentService", "GetAccount")
        | ("orderstore.v1.PurchaseService", "GetSaga" | "ListSagas")
        | ("orderstore.v1.ClusterAdmin", "ClusterStatus" | "NodeStatus") => Role::Reader,
        ("orderstore.v1.OrderService", "PlaceOrder" | "ApplyOrderCommand")
        | (
            "orderstore.v1.InventoryService",
            "SetStock" | "Restock" | "AdjustStock" | "SplitStock" | "Reserve",
        )
        | ("orderstore.v1.PaymentService", "CreateAccount" | "CreditAccount" | "Payment")
        | ("orderstore.v1.PurchaseService", "Purchase") => Role::Writer,
        // SagaAdmin (retry, resolve), TransferLeader, and anything not listed: fail closed.
        _ => Role::Admin,
    };
    Some(role)
}

/// Checks the credentials of requests against the token file and the CA-verified client
/// certificates.
pub struct Authenticator {
    tokens: Option<TokenStore>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // TokenStore's Debug prints names and roles only.
        f.debug_struct("Authenticator")
            .field("tokens", &self.tokens)
            .finish()
    }
}

impl Authenticator {
    pub fn new(tokens: Option<TokenStore>) -> Arc<Self> {
        Arc::new(Self { tokens })
    }

    /// The principal behind a request: a bearer token when one is sent (it must be known),
    /// else the client certificate's CN/OU, else `None`.
    pub fn identify<B>(&self, req: &http::Request<B>) -> Result<Option<Principal>, AuthError> {
        if let Some(value) = req.headers().get(http::header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| {
                    AuthError::Unauthenticated(
                        "the authorization header is not `Bearer <token>`".into(),
                    )
                })?;
            let found = self.tokens.as_ref().and_then(|t| t.authenticate(token));
            return found.map(Some).ok_or_else(|| {
                AuthError::Unauthenticated("unknown or revoked bearer token".into())
            });
        }
        let certs = req
            .extensions()
            .get::<TlsConnectInfo<TcpConnectInfo>>()
            .and_then(|i| i.peer_certs());
        match certs.as_deref().and_then(|c| c.first()) {
            Some(der) => principal_of_certificate(der.as_ref()).map(Some),
            None => Ok(None),
        }
    }

    /// Identifies the caller and checks its role against the method's. `Ok(None)` only for
    /// methods open to anyone called without credentials.
    pub fn authorize<B>(&self, req: &http::Request<B>) -> Result<Option<Principal>, AuthError> {
        let path = req.uri().path();
        let principal = self.identify(req)?;
        let Some(required) = required_role(path) else {
            return Ok(principal);
        };
        let Some(p) = principal else {
            return Err(AuthError::Unauthenticated(format!(
                "{path} needs a bearer token or a client certificate (role {required} or above)"
            )));
        };
        if p.role.permits(required) {
            Ok(Some(p))
        } else {
            Err(AuthError::PermissionDenied {
                principal: p.name,
                role: p.role,
                method: path.to_owned(),
                required,
            })
        }
    }
}

/// Name (subject CN) and role (subject OU) of a CA-verified client certificate.
pub fn principal_of_certificate(der: &[u8]) -> Result<Principal, AuthError> {
    let bad = |why: &str| AuthError::Unauthenticated(format!("client certificate: {why}"));
    let (_, cert) =
        x509_parser::parse_x509_certificate(der).map_err(|_| bad("does not parse as X.509"))?;
    let subject = cert.subject();
    let name = subject
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())
        .ok_or_else(|| bad("no subject CN (the principal name)"))?;
    let role = subject
        .iter_organizational_unit()
        .next()
        .and_then(|a| a.as_str().ok())
        .ok_or_else(|| bad("no subject OU (the role)"))?;
    let role = role
        .parse::<Role>()
        .map_err(|_| bad(&format!("OU {role:?} is not a role")))?;
    Ok(Principal {
        name: name.to_owned(),
        role,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_need_the_expected_roles() {
        let cases = [
            ("/grpc.health.v1.Health/Check", None),
            ("/orderstore.v1.OrderService/GetOrder", Some(Role::Reader)),
            (
                "/orderstore.v1.ClusterAdmin/ClusterStatus",
                Some(Role::Reader),
            ),
            ("/orderstore.v1.OrderService/PlaceOrder", Some(Role::Writer)),
            (
                "/orderstore.v1.PurchaseService/Purchase",
                Some(Role::Writer),
            ),
            (
                "/orderstore.v1.PurchaseService/SagaAdmin",
                Some(Role::Admin),
            ),
            (
                "/orderstore.v1.ClusterAdmin/TransferLeader",
                Some(Role::Admin),
            ),
            ("/orderstore.v1.RaftTransport/Raft", Some(Role::Node)),
            ("/orderstore.v1.NewService/Anything", Some(Role::Admin)),
            ("garbage", Some(Role::Admin)),
        ];
        for (path, want) in cases {
            assert_eq!(required_role(path), want, "{path}");
        }
    }

    fn request(auth: Option<&str>, path: &str) -> http::Request<()> {
        let mut b = http::Request::builder().uri(path);
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        b.body(()).unwrap()
    }

    fn store() -> TokenStore {
        let text = format!(
            "[[tokens]]\nname = \"rita\"\nrole = \"reader\"\nsha256 = \"{}\"\n\n\
             [[tokens]]\nname = \"ada\"\nrole = \"admin\"\nsha256 = \"{}\"\n",
            cluster_config::token_sha256_hex("r-secret"),
            cluster_config::token_sha256_hex("a-secret"),
        );
        TokenStore::from_toml_str(&text).unwrap()
    }

    #[test]
    fn tokens_are_checked_against_the_method_role() {
        let auth = Authenticator::new(Some(store()));
        let get = "/orderstore.v1.OrderService/GetOrder";
        let place = "/orderstore.v1.OrderService/PlaceOrder";
        let p = auth
            .authorize(&request(Some("Bearer r-secret"), get))
            .unwrap()
            .unwrap();
        assert_eq!((p.name.as_str(), p.role), ("rita", Role::Reader));
        let denied = auth
            .authorize(&request(Some("Bearer r-secret"), place))
            .unwrap_err();
        assert_eq!(denied.reason(), "permission_denied");
        assert_eq!(denied.to_status().code(), tonic::Code::PermissionDenied);
        assert!(
            auth.authorize(&request(Some("Bearer a-secret"), place))
                .is_ok()
        );
        for bad in [
            None,
            Some("Bearer nope"),
            Some("Basic eA=="),
            Some("Bearer "),
        ] {
            let e = auth.authorize(&request(bad, place)).unwrap_err();
            assert_eq!(
                e.to_status().code(),
                tonic::Code::Unauthenticated,
                "{bad:?}"
            );
            // The presented secret never appears in the error.
            assert!(!e.to_string().contains("nope"), "{e}");
        }
        // Health checks are open.
        assert_eq!(
            auth.authorize(&request(None, "/grpc.health.v1.Health/Check")),
            Ok(None)
        );
        // Peer traffic needs a node certificate: no token grants it.
        assert!(matches!(
            auth.authorize(&request(
                Some("Bearer a-secret"),
                "/orderstore.v1.RaftTransport/Raft"
            )),
            Err(AuthError::PermissionDenied {
                required: Role::Node,
                ..
            })
        ));
    }

    #[test]
    fn a_certificate_names_the_principal_and_role() {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "node-3");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationalUnitName, "node");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let p = principal_of_certificate(cert.der()).unwrap();
        assert_eq!((p.name.as_str(), p.role), ("node-3", Role::Node));

        let mut params = rcgen::CertificateParams::new(vec![]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "eve");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationalUnitName, "root");
        let cert = params.self_signed(&key).unwrap();
        assert!(principal_of_certificate(cert.der()).is_err());
        assert!(principal_of_certificate(b"not der").is_err());
    }
}
