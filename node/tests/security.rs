//! Security end to end: a 3-node cluster with `[security] tls = true, auth = true`.
//! - Nodes talk to each other over mutual TLS (the cluster elects and replicates at all).
//! - Plain-text and wrong-CA clients get nowhere.
//! - Without credentials a call is UNAUTHENTICATED; a `reader` token may read but not write; a
//!   `writer` may place orders but not run admin operations; an `admin` certificate may.
//! - No token may speak the peer Raft protocol (node certificates only).
//! - Admin actions and refusals land in the audit log, which never holds a secret.

mod common;

use std::path::Path;

use common::*;
use orderstore_proto::v1 as pb;
use rcgen::BasicConstraints;
use rcgen::CertificateParams;
use rcgen::DnType;
use rcgen::ExtendedKeyUsagePurpose;
use rcgen::IsCa;
use rcgen::Issuer;
use rcgen::KeyPair;
use rcgen::SanType;
use tonic::transport::Certificate;
use tonic::transport::ClientTlsConfig;
use tonic::transport::Identity;

const READER_TOKEN: &str = "reader-secret-0123456789";
const WRITER_TOKEN: &str = "writer-secret-0123456789";

/// A development CA and certificates, written as PEM files.
struct Pki {
    ca_cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Pki {
    fn new(cn: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Self {
            ca_cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A certificate with subject CN `name` and OU `role`, valid for localhost/127.0.0.1.
    fn issue(&self, name: &str, role: &str) -> (String, String) {
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params
            .subject_alt_names
            .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
        params.distinguished_name.push(DnType::CommonName, name);
        params
            .distinguished_name
            .push(DnType::OrganizationalUnitName, role);
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn client_tls(&self, name: &str, role: &str) -> ClientTlsConfig {
        let (cert, key) = self.issue(name, role);
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca_cert_pem))
            .identity(Identity::from_pem(cert, key))
    }

    fn client_tls_without_identity(&self) -> ClientTlsConfig {
        ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&self.ca_cert_pem))
    }
}

/// Writes the CA, three node certificates and the token file; returns the `[security]` table.
fn write_material(pki: &Pki, dir: &Path) -> String {
    std::fs::write(dir.join("ca.pem"), &pki.ca_cert_pem).unwrap();
    for id in 1..=3 {
        let (cert, key) = pki.issue(&format!("node-{id}"), "node");
        std::fs::write(dir.join(format!("node-{id}.pem")), cert).unwrap();
        std::fs::write(dir.join(format!("node-{id}.key")), key).unwrap();
    }
    let tokens = format!(
        "[[tokens]]\nname = \"rita\"\nrole = \"reader\"\nsha256 = \"{}\"\n\n\
         [[tokens]]\nname = \"walt\"\nrole = \"writer\"\nsha256 = \"{}\"\n",
        cluster_config::token_sha256_hex(READER_TOKEN),
        cluster_config::token_sha256_hex(WRITER_TOKEN),
    );
    std::fs::write(dir.join("tokens.toml"), tokens).unwrap();
    let d = dir.display();
    format!(
        "[security]\ntls = true\nauth = true\nca_cert = \"{d}/ca.pem\"\n\
         cert = \"{d}/node-{{node_id}}.pem\"\nkey = \"{d}/node-{{node_id}}.key\"\n\
         tokens_file = \"{d}/tokens.toml\"\naudit_log = \"{d}/audit-{{node_id}}.log\"\n"
    )
}

fn with_token<T>(msg: T, token: &str) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    req
}

async fn tls_channel(
    cluster: &TestCluster,
    id: u64,
    tls: ClientTlsConfig,
) -> Result<tonic::transport::Channel, tonic::transport::Error> {
    tonic::transport::Endpoint::from_shared(format!("https://{}", cluster.addr(id)))?
        .tls_config(tls)?
        .connect()
        .await
}

fn get_req(order_id: &str) -> pb::GetOrderRequest {
    pb::GetOrderRequest {
        order_id: order_id.to_owned(),
        consistency: pb::ReadConsistency::Linearizable as i32,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn roles_tls_and_the_audit_log() {
    let material = tempfile::tempdir().unwrap();
    let pki = Pki::new("orderstore test CA");
    let security = write_material(&pki, material.path());
    // The harness itself reads node status with an admin certificate.
    let cluster = TestCluster::start(Spec {
        shards: 2,
        extra_toml: security,
        client_tls: Some(pki.client_tls("harness", "admin")),
        ..Spec::default()
    })
    .await;
    // Phase 1: peers elected leaders over mutual TLS; an admin certificate writes and reads.
    let admin = cluster.channel(1).await.expect("admin TLS connection");
    // Whichever node leads the order's shard accepts it (the others redirect).
    let placed = eventually("an admin places an order", || async {
        for id in cluster.live_nodes() {
            let ch = cluster.channel(id).await.ok()?;
            let mut c = pb::order_service_client::OrderServiceClient::new(ch);
            if let Ok(r) = c.place_order(place_req("sam", "sec-1")).await {
                return Some(r);
            }
        }
        None
    })
    .await
    .into_inner()
    .order
    .unwrap();

    // Phase 2: plain text does not reach a TLS port; a certificate from another CA fails
    // the handshake.
    let plain = tonic::transport::Endpoint::from_shared(format!("http://{}", cluster.addr(1)))
        .unwrap()
        .connect()
        .await;
    if let Ok(ch) = plain {
        let r = pb::order_service_client::OrderServiceClient::new(ch)
            .get_order(get_req(&placed.order_id))
            .await;
        assert!(r.is_err(), "plain text must not be served: {r:?}");
    }
    let rogue = Pki::new("rogue CA");
    let rogue_tls = rogue
        .client_tls("mallory", "admin")
        .ca_certificate(Certificate::from_pem(&pki.ca_cert_pem));
    let r = match tls_channel(&cluster, 1, rogue_tls).await {
        Ok(ch) => pb::order_service_client::OrderServiceClient::new(ch)
            .get_order(get_req(&placed.order_id))
            .await
            .map(|_| ()),
        Err(e) => Err(tonic::Status::unavailable(e.to_string())),
    };
    assert!(r.is_err(), "a certificate of another CA must be refused");

    // Phase 3: TLS without credentials is unauthenticated.
    let anon = tls_channel(&cluster, 1, pki.client_tls_without_identity())
        .await
        .expect("server-authenticated TLS");
    let mut orders = pb::order_service_client::OrderServiceClient::new(anon.clone());
    let s = orders
        .get_order(get_req(&placed.order_id))
        .await
        .unwrap_err();
    assert_eq!(s.code(), tonic::Code::Unauthenticated, "{s:?}");
    let s = orders
        .get_order(with_token(get_req(&placed.order_id), "not-a-token"))
        .await
        .unwrap_err();
    assert_eq!(s.code(), tonic::Code::Unauthenticated, "{s:?}");

    // Phase 4: a reader reads (possibly redirected: any answer but a refusal) but cannot write.
    let read = orders
        .get_order(with_token(get_req(&placed.order_id), READER_TOKEN))
        .await;
    if let Err(s) = &read {
        assert_eq!(s.code(), tonic::Code::Unavailable, "reader read: {s:?}");
    }
    let s = orders
        .place_order(with_token(place_req("sam", "sec-2"), READER_TOKEN))
        .await
        .unwrap_err();
    assert_eq!(s.code(), tonic::Code::PermissionDenied, "{s:?}");
    assert!(s.message().contains("rita"), "{}", s.message());

    // Phase 5: a writer writes but cannot run admin operations or speak Raft.
    let w = orders
        .place_order(with_token(place_req("sam", "sec-3"), WRITER_TOKEN))
        .await;
    if let Err(s) = &w {
        assert_eq!(s.code(), tonic::Code::Unavailable, "writer write: {s:?}");
    }
    let mut admin_svc = pb::cluster_admin_client::ClusterAdminClient::new(anon.clone());
    let s = admin_svc
        .transfer_leader(with_token(
            pb::TransferLeaderRequest {
                shard_id: 1,
                to_node: 2,
            },
            WRITER_TOKEN,
        ))
        .await
        .unwrap_err();
    assert_eq!(s.code(), tonic::Code::PermissionDenied, "{s:?}");
    let mut raft = pb::raft_transport_client::RaftTransportClient::new(anon.clone());
    let s = raft
        .raft(with_token(pb::RaftMessage::default(), WRITER_TOKEN))
        .await
        .unwrap_err();
    assert_eq!(s.code(), tonic::Code::PermissionDenied, "{s:?}");

    // Phase 6: an admin certificate runs the admin operation; it is audited with its outcome.
    let mut admin_svc = pb::cluster_admin_client::ClusterAdminClient::new(admin.clone());
    let _ = admin_svc
        .transfer_leader(pb::TransferLeaderRequest {
            shard_id: 1,
            to_node: 2,
        })
        .await;
    let audit = std::fs::read_to_string(material.path().join("audit-1.log")).unwrap();
    let lines: Vec<serde_json::Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).expect("audit lines are JSON"))
        .collect();
    let transfer = |who: &str| {
        lines.iter().find(|l| {
            l["method"] == "/orderstore.v1.ClusterAdmin/TransferLeader" && l["principal"] == who
        })
    };
    let denied = transfer("walt").expect("the writer's refused admin call is audited");
    assert_eq!(denied["outcome"], "PERMISSION_DENIED");
    let done = transfer("harness").expect("the admin call is audited");
    assert_eq!(done["role"], "admin");
    assert!(!done["peer"].as_str().unwrap().is_empty());
    for secret in [READER_TOKEN, WRITER_TOKEN, "not-a-token"] {
        assert!(!audit.contains(secret), "the audit log holds a secret");
    }
    let (_, metrics) = http_get(&cluster.status_addr(1), "/metrics").await;
    assert!(
        metrics.contains("orderstore_auth_denied_total{reason=\"permission_denied\"}"),
        "{metrics}"
    );
}
