//! `orderctl cert ca|node|client`: development certificates for a secured cluster, made with
//! rcgen.
//!
//! One CA (`DIR/ca.pem`, `DIR/ca.key`) signs every other certificate. The server reads a
//! principal from a certificate's subject: CN = the principal's name, OU = its role. Node
//! certificates (CN `node-<id>`, OU `node`) serve TLS and also authenticate the node to its
//! peers, so they carry both the serverAuth and clientAuth extended key usages; client
//! certificates (CN = name, OU = reader|writer|admin) carry clientAuth only.
//!
//! Nothing is overwritten without `force`; private keys are written with mode 0600.

use std::fs::OpenOptions;
use std::fs::Permissions;
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::path::PathBuf;
use std::time::Duration;

use rcgen::BasicConstraints;
use rcgen::CertificateParams;
use rcgen::DnType;
use rcgen::ExtendedKeyUsagePurpose;
use rcgen::IsCa;
use rcgen::Issuer;
use rcgen::KeyPair;
use rcgen::KeyUsagePurpose;
use rcgen::SanType;
use serde::Serialize;
use x509_parser::time::ASN1Time;

use crate::cli::CertCmd;
use crate::cli::OutputFormat;
use crate::cli::Role;
use crate::cli_error::CliError;
use crate::output;

/// Subject CN of the CA `cert ca` makes.
pub const CA_COMMON_NAME: &str = "orderstore development CA";
pub const CA_CERT_FILE: &str = "ca.pem";
pub const CA_KEY_FILE: &str = "ca.key";
/// The OU of node certificates (the server's `node` role).
pub const NODE_ROLE: &str = "node";
/// SANs of a node certificate when no `--host` is given.
pub const DEFAULT_NODE_HOSTS: [&str; 2] = ["localhost", "127.0.0.1"];

const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);
const LEAF_VALIDITY: Duration = Duration::from_secs(365 * 24 * 60 * 60);
/// Certificates are valid from this long before they were made, so a node whose clock is a
/// little behind still accepts them.
const BACKDATE: Duration = Duration::from_secs(60 * 60);

/// Why a `cert` or `token` command (or `playground up --secure`) could not make or write its
/// files.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// A file the command would write exists and `--force` was not given; nothing was written.
    #[error("{} already exists; pass --force to overwrite it", .path.display())]
    Exists { path: PathBuf },
    /// `cert node` / `cert client` on a directory without `ca.pem` and `ca.key`.
    #[error("no CA in {dir}: {CA_CERT_FILE} and {CA_KEY_FILE} are needed (make them with `orderctl cert ca --dir {dir}`)", dir = .dir.display())]
    NoCa { dir: PathBuf },
    /// The CA files exist but cannot be used to sign.
    #[error("the CA in {} is unusable: {message}", .dir.display())]
    BadCa { dir: PathBuf, message: String },
    /// A principal name that is not 1-64 of `A-Z a-z 0-9 . _ @ -`, starting with a letter or
    /// digit.
    #[error(
        "invalid name {name:?}: use 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit"
    )]
    BadName { name: String },
    /// A `--host` that is neither an IP address nor a DNS name.
    #[error("invalid --host {host:?}: expected an IP address or a DNS name")]
    BadHost { host: String },
    /// `token create --tokens-file F` for a name F already has; F is unchanged.
    #[error("{} already has a token named {name:?}; choose another name", .path.display())]
    DuplicateToken { name: String, path: PathBuf },
    /// The tokens file exists but is not the TOML `[[tokens]]` list the server reads.
    #[error("{} is not a tokens file: {message}", .path.display())]
    BadTokensFile { path: PathBuf, message: String },
    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// rcgen refused the parameters or failed to sign.
    #[error("cannot make the certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

impl CredentialError {
    /// Whether the failure is the caller's to fix by changing the command (exit code 2).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            CredentialError::Exists { .. }
                | CredentialError::NoCa { .. }
                | CredentialError::BadName { .. }
                | CredentialError::BadHost { .. }
                | CredentialError::DuplicateToken { .. }
                | CredentialError::BadTokensFile { .. }
        )
    }
}

pub(crate) fn io_err(
    action: &'static str,
    path: &Path,
) -> impl FnOnce(std::io::Error) -> CredentialError {
    let path = path.to_path_buf();
    move |source| CredentialError::Io {
        action,
        path,
        source,
    }
}

/// What a `cert` command wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issued {
    /// `ca`, `node` or `client`.
    pub kind: &'static str,
    /// The subject, e.g. `CN=node-1, OU=node`.
    pub subject: String,
    /// Subject alternative names (nodes only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sans: Vec<String>,
    /// Last day of validity (UTC).
    pub not_after: String,
    pub cert: PathBuf,
    /// The private key, mode 0600.
    pub key: PathBuf,
}

/// Checks a principal name (client certificates' CN, token names).
pub fn validate_name(name: &str) -> Result<(), CredentialError> {
    let ok = (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-'));
    if ok {
        Ok(())
    } else {
        Err(CredentialError::BadName {
            name: name.to_string(),
        })
    }
}

/// Paths of a node's certificate and key in `dir`.
pub fn node_files(dir: &Path, id: u64) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("node-{id}.pem")),
        dir.join(format!("node-{id}.key")),
    )
}

/// Paths of a client's certificate and key in `dir`.
pub fn client_files(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("client-{name}.pem")),
        dir.join(format!("client-{name}.key")),
    )
}

/// Makes a self-signed CA in `dir` (created if missing): `ca.pem`, `ca.key`, valid 10 years.
pub fn create_ca(dir: &Path, force: bool) -> Result<Issued, CredentialError> {
    let (cert_path, key_path) = (dir.join(CA_CERT_FILE), dir.join(CA_KEY_FILE));
    refuse_existing(&[&cert_path, &key_path], force)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, CA_COMMON_NAME);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "orderstore");
    // Path length 0: the CA signs node and client certificates, never another CA.
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let not_after = set_validity(&mut params, CA_VALIDITY);
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    write_pair(
        dir,
        &cert_path,
        &cert.pem(),
        &key_path,
        &key.serialize_pem(),
    )?;
    Ok(Issued {
        kind: "ca",
        subject: format!("CN={CA_COMMON_NAME}, O=orderstore"),
        sans: Vec::new(),
        not_after,
        cert: cert_path,
        key: key_path,
    })
}

/// Makes node `id`'s certificate in `dir`, signed by the CA there: CN `node-<id>`, OU `node`,
/// SANs `hosts` (IP addresses or DNS names; empty: `localhost` and `127.0.0.1`), serverAuth
/// and clientAuth, valid 1 year.
pub fn create_node(
    dir: &Path,
    id: u64,
    hosts: &[String],
    force: bool,
) -> Result<Issued, CredentialError> {
    let hosts: Vec<String> = if hosts.is_empty() {
        DEFAULT_NODE_HOSTS.iter().map(|h| h.to_string()).collect()
    } else {
        hosts.to_vec()
    };
    let sans = hosts
        .iter()
        .map(|h| san(h))
        .collect::<Result<Vec<_>, _>>()?;
    let (cert_path, key_path) = node_files(dir, id);
    refuse_existing(&[&cert_path, &key_path], force)?;
    let issuer = load_ca(dir)?;
    let cn = format!("node-{id}");
    let mut params = leaf_params(&cn, NODE_ROLE);
    params.subject_alt_names = sans;
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let not_after = set_validity(&mut params, LEAF_VALIDITY);
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    write_pair(
        dir,
        &cert_path,
        &cert.pem(),
        &key_path,
        &key.serialize_pem(),
    )?;
    Ok(Issued {
        kind: "node",
        subject: format!("CN={cn}, OU={NODE_ROLE}"),
        sans: hosts,
        not_after,
        cert: cert_path,
        key: key_path,
    })
}

/// Makes a client certificate in `dir`, signed by the CA there: CN `name`, OU `role`,
/// clientAuth, valid 1 year.
pub fn create_client(
    dir: &Path,
    name: &str,
    role: Role,
    force: bool,
) -> Result<Issued, CredentialError> {
    validate_name(name)?;
    let (cert_path, key_path) = client_files(dir, name);
    refuse_existing(&[&cert_path, &key_path], force)?;
    let issuer = load_ca(dir)?;
    let mut params = leaf_params(name, role.as_str());
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let not_after = set_validity(&mut params, LEAF_VALIDITY);
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    write_pair(
        dir,
        &cert_path,
        &cert.pem(),
        &key_path,
        &key.serialize_pem(),
    )?;
    Ok(Issued {
        kind: "client",
        subject: format!("CN={name}, OU={}", role.as_str()),
        sans: Vec::new(),
        not_after,
        cert: cert_path,
        key: key_path,
    })
}

/// Subject CN = `cn`, OU = `role`; an end-entity certificate naming its issuer's key.
fn leaf_params(cn: &str, role: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, cn);
    params
        .distinguished_name
        .push(DnType::OrganizationalUnitName, role);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
    params
}

/// Valid from a little before now for `validity`; returns the last day, `YYYY-MM-DD`.
fn set_validity(params: &mut CertificateParams, validity: Duration) -> String {
    let now = ASN1Time::now().to_datetime();
    params.not_before = now - BACKDATE;
    params.not_after = now + validity;
    let end = params.not_after;
    format!(
        "{:04}-{:02}-{:02}",
        end.year(),
        u8::from(end.month()),
        end.day()
    )
}

fn san(host: &str) -> Result<SanType, CredentialError> {
    let bad = || CredentialError::BadHost {
        host: host.to_string(),
    };
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    let labels_ok = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|l| {
            (1..=63).contains(&l.len())
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    if !labels_ok {
        return Err(bad());
    }
    Ok(SanType::DnsName(host.try_into().map_err(|_| bad())?))
}

/// The CA in `dir`, ready to sign.
fn load_ca(dir: &Path) -> Result<Issuer<'static, KeyPair>, CredentialError> {
    let (cert_path, key_path) = (dir.join(CA_CERT_FILE), dir.join(CA_KEY_FILE));
    if !cert_path.is_file() || !key_path.is_file() {
        return Err(CredentialError::NoCa {
            dir: dir.to_path_buf(),
        });
    }
    let cert = std::fs::read_to_string(&cert_path).map_err(io_err("read", &cert_path))?;
    let key = std::fs::read_to_string(&key_path).map_err(io_err("read", &key_path))?;
    let bad = |what: &str, e: rcgen::Error| CredentialError::BadCa {
        dir: dir.to_path_buf(),
        message: format!("{what}: {e}"),
    };
    let key = KeyPair::from_pem(&key).map_err(|e| bad(CA_KEY_FILE, e))?;
    Issuer::from_ca_cert_pem(&cert, key).map_err(|e| bad(CA_CERT_FILE, e))
}

/// Fails with [`CredentialError::Exists`] naming the first of `paths` that exists, unless `force`.
pub fn refuse_existing(paths: &[&Path], force: bool) -> Result<(), CredentialError> {
    if force {
        return Ok(());
    }
    match paths.iter().find(|p| p.exists()) {
        Some(p) => Err(CredentialError::Exists {
            path: p.to_path_buf(),
        }),
        None => Ok(()),
    }
}

/// Writes a certificate (mode 0644) and its key (mode 0600), creating `dir` if needed.
fn write_pair(
    dir: &Path,
    cert_path: &Path,
    cert_pem: &str,
    key_path: &Path,
    key_pem: &str,
) -> Result<(), CredentialError> {
    std::fs::create_dir_all(dir).map_err(io_err("create", dir))?;
    write_file(key_path, key_pem.as_bytes(), 0o600).map_err(io_err("write", key_path))?;
    write_file(cert_path, cert_pem.as_bytes(), 0o644).map_err(io_err("write", cert_path))
}

/// Writes `contents` to `path` with permission bits `mode`, also when the file existed with
/// other bits: they are set before any byte is written, so a secret is never readable by
/// others, not even briefly.
pub fn write_file(path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)?;
    f.set_permissions(Permissions::from_mode(mode))?;
    f.write_all(contents)?;
    f.sync_all()
}

/// `orderctl cert ...`.
pub fn run(cmd: CertCmd, format: OutputFormat) -> Result<(), CliError> {
    let issued = match cmd {
        CertCmd::Ca { dir, force } => create_ca(&dir, force)?,
        CertCmd::Node {
            dir,
            id,
            hosts,
            force,
        } => create_node(&dir, id, &hosts, force)?,
        CertCmd::Client {
            dir,
            name,
            role,
            force,
        } => create_client(&dir, &name, role, force)?,
    };
    print_issued(&issued, format);
    Ok(())
}

fn print_issued(issued: &Issued, format: OutputFormat) {
    match format {
        OutputFormat::Json => output::print_json(issued),
        OutputFormat::Table => {
            let sans = if issued.sans.is_empty() {
                String::new()
            } else {
                format!(", SANs {}", issued.sans.join(", "))
            };
            println!(
                "{} certificate {}{sans}, valid until {}",
                issued.kind, issued.subject, issued.not_after
            );
            println!("  wrote {} (certificate)", issued.cert.display());
            println!("  wrote {} (private key, mode 0600)", issued.key.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use orderstore_client::Client;
    use orderstore_client::ClientError;
    use orderstore_client::TlsOptions;
    use orderstore_client::proto as pb;
    use x509_parser::certificate::X509Certificate;
    use x509_parser::extensions::GeneralName;
    use x509_parser::pem::parse_x509_pem;

    use super::*;

    /// Parses the PEM certificate at `path` and hands it to `check`.
    fn with_cert(path: &Path, check: impl FnOnce(&X509Certificate<'_>)) {
        let pem = std::fs::read(path).unwrap();
        let (_, pem) = parse_x509_pem(&pem).unwrap();
        let cert = pem.parse_x509().unwrap();
        check(&cert);
    }

    fn cn_ou(cert: &X509Certificate<'_>) -> (String, Option<String>) {
        let subject = cert.subject();
        let cn = subject
            .iter_common_name()
            .next()
            .and_then(|a| a.as_str().ok())
            .unwrap()
            .to_string();
        let ou = subject
            .iter_organizational_unit()
            .next()
            .and_then(|a| a.as_str().ok())
            .map(str::to_string);
        (cn, ou)
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    /// The CA, a node and a client certificate parse, carry the documented subject, SANs and
    /// key usages, are signed by the CA, and their keys are private to the owner.
    #[test]
    fn certificates_have_the_documented_shape() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path().join("certs");
        let ca = create_ca(&dir, false).unwrap();
        let node = create_node(&dir, 3, &[], false).unwrap();
        let client = create_client(&dir, "alice", Role::Writer, false).unwrap();
        assert_eq!(node.cert, dir.join("node-3.pem"));
        assert_eq!(client.key, dir.join("client-alice.key"));
        for key in [&ca.key, &node.key, &client.key] {
            assert_eq!(mode(key), 0o600, "{}", key.display());
        }

        let ca_pem = std::fs::read(&ca.cert).unwrap();
        let (_, ca_pem) = parse_x509_pem(&ca_pem).unwrap();
        let ca_cert = ca_pem.parse_x509().unwrap();
        assert_eq!(cn_ou(&ca_cert).0, CA_COMMON_NAME);
        assert!(ca_cert.is_ca());
        let lifetime = ca_cert.validity().not_after.timestamp() - ASN1Time::now().timestamp();
        assert!(lifetime > 9 * 365 * 86400, "CA valid for {lifetime} s");

        with_cert(&node.cert, |c| {
            assert_eq!(cn_ou(c), ("node-3".into(), Some("node".into())));
            assert!(!c.is_ca());
            c.verify_signature(Some(ca_cert.public_key())).unwrap();
            let eku = c.extended_key_usage().unwrap().unwrap().value;
            assert!(eku.server_auth && eku.client_auth);
            let sans: Vec<String> = c
                .subject_alternative_name()
                .unwrap()
                .unwrap()
                .value
                .general_names
                .iter()
                .map(|n| match n {
                    GeneralName::DNSName(d) => d.to_string(),
                    GeneralName::IPAddress(ip) => format!("ip:{ip:?}"),
                    other => format!("{other:?}"),
                })
                .collect();
            assert_eq!(sans, ["localhost", "ip:[127, 0, 0, 1]"]);
        });
        with_cert(&client.cert, |c| {
            assert_eq!(cn_ou(c), ("alice".into(), Some("writer".into())));
            c.verify_signature(Some(ca_cert.public_key())).unwrap();
            let eku = c.extended_key_usage().unwrap().unwrap().value;
            assert!(eku.client_auth && !eku.server_auth);
        });
    }

    /// Existing files are kept unless `force`; a node certificate needs a CA; names and hosts
    /// are checked before anything is written.
    #[test]
    fn refuses_to_overwrite_and_checks_input() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        assert!(matches!(
            create_node(dir, 1, &[], false),
            Err(CredentialError::NoCa { .. })
        ));
        create_ca(dir, false).unwrap();
        let before = std::fs::read(dir.join(CA_CERT_FILE)).unwrap();
        let err = create_ca(dir, false).unwrap_err();
        assert!(matches!(err, CredentialError::Exists { .. }), "{err:?}");
        assert!(err.is_usage());
        assert!(err.to_string().contains("--force"), "{err}");
        assert_eq!(std::fs::read(dir.join(CA_CERT_FILE)).unwrap(), before);

        create_node(dir, 1, &["node1.example".into(), "10.0.0.1".into()], false).unwrap();
        assert!(matches!(
            create_node(dir, 1, &[], false),
            Err(CredentialError::Exists { .. })
        ));
        // Overwriting a key keeps it private even if someone loosened its mode.
        std::fs::set_permissions(dir.join("node-1.key"), Permissions::from_mode(0o644)).unwrap();
        create_node(dir, 1, &[], true).unwrap();
        assert_eq!(mode(&dir.join("node-1.key")), 0o600);

        for bad in ["", "-x", "a b", "ünicode", &"x".repeat(65)] {
            assert!(
                matches!(
                    create_client(dir, bad, Role::Admin, false),
                    Err(CredentialError::BadName { .. })
                ),
                "{bad:?}"
            );
        }
        for bad in ["", "under_score.example", "a..b", "-lead.example"] {
            assert!(
                matches!(
                    create_node(dir, 2, &[bad.to_string()], false),
                    Err(CredentialError::BadHost { .. })
                ),
                "{bad:?}"
            );
        }
        assert!(!dir.join("node-2.pem").exists());
    }

    /// What the node-like server saw of one request.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Seen {
        authorization: Option<String>,
        /// CN and OU of the client certificate, if one was presented.
        principal: Option<(String, Option<String>)>,
    }

    /// A `ClusterAdmin` that records each request's credentials and reports one node at
    /// `advertised` (so the client learns that address).
    #[derive(Clone)]
    struct RecordingNode {
        advertised: String,
        seen: std::sync::Arc<std::sync::Mutex<Vec<Seen>>>,
    }

    #[tonic::async_trait]
    impl pb::cluster_admin_server::ClusterAdmin for RecordingNode {
        type BackupShardStream =
            tonic::codegen::tokio_stream::Empty<Result<pb::BackupChunk, tonic::Status>>;

        async fn backup_shard(
            &self,
            _r: tonic::Request<pb::BackupShardRequest>,
        ) -> Result<tonic::Response<Self::BackupShardStream>, tonic::Status> {
            Err(tonic::Status::unimplemented("not scripted"))
        }

        async fn cluster_status(
            &self,
            r: tonic::Request<pb::ClusterStatusRequest>,
        ) -> Result<tonic::Response<pb::ClusterStatusReply>, tonic::Status> {
            let authorization = r
                .metadata()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let principal = r.peer_certs().and_then(|certs| {
                let (_, cert) = x509_parser::parse_x509_certificate(certs.first()?).ok()?;
                Some(cn_ou(&cert))
            });
            self.seen.lock().unwrap().push(Seen {
                authorization,
                principal,
            });
            Ok(tonic::Response::new(pb::ClusterStatusReply {
                nodes: vec![pb::NodeInfo {
                    id: 1,
                    grpc_addr: self.advertised.clone(),
                    state: "up".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }))
        }

        async fn node_status(
            &self,
            _r: tonic::Request<pb::NodeStatusRequest>,
        ) -> Result<tonic::Response<pb::NodeStatusReply>, tonic::Status> {
            Err(tonic::Status::unimplemented("not scripted"))
        }

        async fn transfer_leader(
            &self,
            _r: tonic::Request<pb::TransferLeaderRequest>,
        ) -> Result<tonic::Response<pb::TransferLeaderReply>, tonic::Status> {
            Err(tonic::Status::unimplemented("not scripted"))
        }
    }

    fn sdk_client(addr: &str, tls: TlsOptions, token: Option<&str>) -> Client {
        let mut b = Client::builder()
            .endpoints([addr])
            .tls(tls)
            .max_retries(1)
            .deadline(Duration::from_secs(5))
            .backoff(orderstore_client::Backoff {
                base: Duration::from_millis(1),
                cap: Duration::from_millis(5),
            });
        if let Some(t) = token {
            b = b.bearer_token(t);
        }
        b.build().unwrap()
    }

    /// The generated certificates work in a real TLS handshake, in-process: a tonic server set
    /// up like a secured node (its node certificate; client certificates optional but, when
    /// shown, verified against the CA) serves the SDK when it trusts the generated CA. The
    /// server sees the client certificate's CN/OU and the bearer token; addresses learned from
    /// `ClusterStatus` are dialled with TLS too (`localhost` against the DNS SAN). A client
    /// trusting another CA, and a client showing a certificate of another CA, are refused.
    #[tokio::test]
    async fn sdk_speaks_tls_with_the_generated_certificates() {
        // Phase 1: a CA, node 1 and a client certificate; a second, unrelated CA.
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("certs");
        let other = tmp.path().join("other");
        create_ca(&dir, false).unwrap();
        let node = create_node(&dir, 1, &[], false).unwrap();
        let alice = create_client(&dir, "alice", Role::Writer, false).unwrap();
        create_ca(&other, false).unwrap();
        let mallory = create_client(&other, "mallory", Role::Admin, false).unwrap();
        let read = |p: &Path| std::fs::read(p).unwrap();
        let ca = dir.join(CA_CERT_FILE);

        // Phase 2: the node-like server on port 0.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let addr = format!("127.0.0.1:{port}");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let service = RecordingNode {
            advertised: format!("localhost:{port}"),
            seen: seen.clone(),
        };
        let tls = tonic::transport::ServerTlsConfig::new()
            .identity(tonic::transport::Identity::from_pem(
                read(&node.cert),
                read(&node.key),
            ))
            .client_ca_root(tonic::transport::Certificate::from_pem(read(&ca)))
            .client_auth_optional(true);
        tokio::spawn(
            tonic::transport::Server::builder()
                .tls_config(tls)
                .unwrap()
                .add_service(pb::cluster_admin_server::ClusterAdminServer::new(service))
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );

        // Phase 3: client certificate and token; the seed, then the learned `localhost`
        // address (the client rotates over both), each over TLS.
        let tls = TlsOptions::from_files(&ca, Some(&alice.cert), Some(&alice.key)).unwrap();
        let client = sdk_client(&addr, tls, Some("tok-alice"));
        for _ in 0..3 {
            let status = client.cluster_status().await.unwrap();
            assert_eq!(status.nodes[0].grpc_addr, format!("localhost:{port}"));
        }
        let want = Seen {
            authorization: Some("Bearer tok-alice".into()),
            principal: Some(("alice".into(), Some("writer".into()))),
        };
        assert_eq!(*seen.lock().unwrap(), vec![want; 3]);
        seen.lock().unwrap().clear();

        // Phase 4: no client certificate (optional on the server), token only.
        let client = sdk_client(
            &addr,
            TlsOptions::from_files(&ca, None, None).unwrap(),
            Some("t2"),
        );
        client.cluster_status().await.unwrap();
        assert_eq!(
            *seen.lock().unwrap(),
            [Seen {
                authorization: Some("Bearer t2".into()),
                principal: None,
            }]
        );
        seen.lock().unwrap().clear();

        // Phase 5: refused handshakes are final (no retries) and never reach the service.
        let wrong_ca = TlsOptions::from_files(other.join(CA_CERT_FILE), None, None).unwrap();
        let err = sdk_client(&addr, wrong_ca, None)
            .cluster_status()
            .await
            .unwrap_err();
        assert!(matches!(err, ClientError::TlsHandshake { .. }), "{err:?}");
        assert!(
            err.to_string().contains("invalid peer certificate"),
            "{err}"
        );
        let foreign_cert =
            TlsOptions::from_files(&ca, Some(&mallory.cert), Some(&mallory.key)).unwrap();
        let err = sdk_client(&addr, foreign_cert, None)
            .cluster_status()
            .await
            .unwrap_err();
        assert!(matches!(err, ClientError::TlsHandshake { .. }), "{err:?}");
        assert!(seen.lock().unwrap().is_empty());
    }
}
