//! [`PlaygroundManifest`]: `DIR/cluster.json`, the record of a playground's nodes (addresses,
//! pids, data and log paths) that `down`, `stop-node` and `start-node` act on, and the
//! `DIR/cluster.toml` the nodes are started with.

use std::path::Path;
use std::path::PathBuf;

use serde::Deserialize;
use serde::Serialize;

use crate::node_process;
use crate::playground::PlaygroundError;

pub const MANIFEST_FILE: &str = "cluster.json";
pub const CONFIG_FILE: &str = "cluster.toml";
pub const CLUSTER_NAME: &str = "playground";
/// `up --secure`: certificates and the admin token live in `DIR/certs`, the tokens file the
/// nodes read is `DIR/tokens.toml`.
pub const CERTS_DIR: &str = "certs";
pub const TOKENS_FILE: &str = "tokens.toml";
pub const ADMIN_TOKEN_FILE: &str = "admin.token";
/// Principal name of the admin client certificate and token of a secure playground.
pub const ADMIN_NAME: &str = "admin";

/// Where a secure playground keeps its credentials (all under the playground directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecureFiles {
    pub certs_dir: PathBuf,
    pub ca_cert: PathBuf,
    /// `node-{node_id}.pem` / `.key`: the nodes' config template (the node fills in its id).
    pub node_cert_template: PathBuf,
    pub node_key_template: PathBuf,
    pub admin_cert: PathBuf,
    pub admin_key: PathBuf,
    /// The admin's plain bearer token (mode 0600).
    pub admin_token: PathBuf,
    /// The SHA-256 entries the nodes check tokens against.
    pub tokens_file: PathBuf,
}

impl SecureFiles {
    pub fn in_dir(dir: &Path) -> Self {
        let certs_dir = dir.join(CERTS_DIR);
        let (admin_cert, admin_key) = crate::cert::client_files(&certs_dir, ADMIN_NAME);
        SecureFiles {
            ca_cert: certs_dir.join(crate::cert::CA_CERT_FILE),
            node_cert_template: certs_dir.join("node-{node_id}.pem"),
            node_key_template: certs_dir.join("node-{node_id}.key"),
            admin_cert,
            admin_key,
            admin_token: certs_dir.join(ADMIN_TOKEN_FILE),
            tokens_file: dir.join(TOKENS_FILE),
            certs_dir,
        }
    }
}

/// The contents of `DIR/cluster.json`. All paths are absolute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaygroundManifest {
    pub cluster_name: String,
    /// The cluster configuration every node was started with.
    pub config: PathBuf,
    /// The `orderd` binary the nodes run.
    pub orderd: PathBuf,
    pub shards: u64,
    pub replication_factor: u64,
    /// gRPC addresses of all nodes, for `--endpoints` / `ORDERSTORE_ENDPOINTS`.
    pub endpoints: Vec<String>,
    pub nodes: Vec<NodeEntry>,
    /// Started with `up --secure`: nodes serve TLS and check credentials, which are in
    /// [`SecureFiles::in_dir`]. Manifests written before `--secure` existed read as `false`.
    #[serde(default)]
    pub secure: bool,
}

/// One node of the playground.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeEntry {
    pub id: u64,
    pub grpc_addr: String,
    pub status_addr: String,
    /// Process id while running; 0 when stopped.
    pub pid: u32,
    pub data_dir: PathBuf,
    pub log: PathBuf,
}

impl PlaygroundManifest {
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(MANIFEST_FILE)
    }

    /// The playground directory (the config file lives directly in it).
    pub fn dir(&self) -> &Path {
        self.config.parent().unwrap_or(Path::new("."))
    }

    /// The credentials of a secure playground; `None` when it is not secure.
    pub fn secure_files(&self) -> Option<SecureFiles> {
        self.secure.then(|| SecureFiles::in_dir(self.dir()))
    }

    /// Reads `DIR/cluster.json`: `Ok(None)` when there is none.
    pub fn load(dir: &Path) -> Result<Option<Self>, PlaygroundError> {
        let path = Self::path(dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(PlaygroundError::Io {
                    action: "read",
                    path,
                    source,
                });
            }
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| PlaygroundError::BadManifest {
                path,
                message: e.to_string(),
            })
    }

    /// Like [`Self::load`], but a missing manifest is [`PlaygroundError::NoPlayground`].
    pub fn require(dir: &Path) -> Result<Self, PlaygroundError> {
        Self::load(dir)?.ok_or_else(|| PlaygroundError::NoPlayground {
            dir: dir.to_path_buf(),
        })
    }

    /// Writes `DIR/cluster.json` atomically (temp file + rename), so a reader never sees half
    /// a manifest.
    pub fn save(&self, dir: &Path) -> Result<(), PlaygroundError> {
        let path = Self::path(dir);
        let tmp = dir.join(format!("{MANIFEST_FILE}.tmp"));
        // Plain data (strings, numbers, paths that came from UTF-8 arguments or were made
        // absolute from them) always serializes.
        let text = serde_json::to_string_pretty(self).expect("manifest serializes to JSON");
        std::fs::write(&tmp, text + "\n")
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|source| PlaygroundError::Io {
                action: "write",
                path,
                source,
            })
    }

    /// Nodes whose recorded process is alive.
    pub fn running(&self) -> Vec<&NodeEntry> {
        self.nodes
            .iter()
            .filter(|n| node_process::is_running(n))
            .collect()
    }

    pub fn node_mut(&mut self, id: u64, dir: &Path) -> Result<&mut NodeEntry, PlaygroundError> {
        let known = self
            .nodes
            .iter()
            .map(|n| n.id.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        self.nodes
            .iter_mut()
            .find(|n| n.id == id)
            .ok_or_else(|| PlaygroundError::UnknownNode {
                id,
                dir: dir.to_path_buf(),
                known,
            })
    }

    /// The cluster configuration (TOML) for these nodes, in the format `orderd --config` reads.
    /// A secure playground adds a `[security]` table (TLS, authentication, the files in
    /// [`SecureFiles`]); otherwise the text is exactly what it was before `--secure` existed.
    pub fn config_toml(&self) -> String {
        let mut s = format!(
            r#"# Written by `orderctl playground up`; regenerated on every `up`.
cluster_name = "{name}"
initial_shards = {shards}
replication_factor = {rf}
default_region = "local"
idempotency_ttl_secs = 86400

[raft]
heartbeat_interval_ms = 250
election_timeout_min_ms = 1000
election_timeout_max_ms = 2000
snapshot_logs_since_last = 5000
max_in_snapshot_log_to_keep = 1000
"#,
            name = self.cluster_name,
            shards = self.shards,
            rf = self.replication_factor,
        );
        if let Some(f) = self.secure_files() {
            s.push_str(&format!(
                r#"
[security]
tls = true
auth = true
ca_cert = {ca}
cert = {cert}
key = {key}
tokens_file = {tokens}
"#,
                ca = toml_string(&f.ca_cert),
                cert = toml_string(&f.node_cert_template),
                key = toml_string(&f.node_key_template),
                tokens = toml_string(&f.tokens_file),
            ));
        }
        for n in &self.nodes {
            s.push_str(&format!(
                r#"
[[nodes]]
id = {id}
grpc_addr = "{grpc}"
status_addr = "{status}"
region = "local"
zone = "z{id}"
"#,
                id = n.id,
                grpc = n.grpc_addr,
                status = n.status_addr,
            ));
        }
        s
    }
}

/// `path` as a TOML basic string: quoted, with `\\`, `"` and control characters escaped.
fn toml_string(path: &Path) -> String {
    let mut out = String::from("\"");
    for c in path.to_string_lossy().chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(dir: &Path) -> PlaygroundManifest {
        PlaygroundManifest {
            cluster_name: CLUSTER_NAME.into(),
            config: dir.join(CONFIG_FILE),
            orderd: "/bin/orderd".into(),
            shards: 4,
            replication_factor: 3,
            endpoints: vec!["127.0.0.1:7001".into(), "127.0.0.1:7002".into()],
            nodes: (1..=2)
                .map(|id| NodeEntry {
                    id,
                    grpc_addr: format!("127.0.0.1:700{id}"),
                    status_addr: format!("127.0.0.1:800{id}"),
                    pid: 0,
                    data_dir: dir.join(format!("node-{id}")),
                    log: dir.join(format!("node-{id}.log")),
                })
                .collect(),
            secure: false,
        }
    }

    #[test]
    fn manifest_round_trips_and_has_the_documented_fields() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(PlaygroundManifest::load(dir.path()).unwrap(), None);
        assert!(matches!(
            PlaygroundManifest::require(dir.path()),
            Err(PlaygroundError::NoPlayground { .. })
        ));
        let m = manifest(dir.path());
        m.save(dir.path()).unwrap();
        assert_eq!(PlaygroundManifest::load(dir.path()).unwrap(), Some(m));
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join(MANIFEST_FILE)).unwrap())
                .unwrap();
        for field in ["id", "grpc_addr", "status_addr", "pid", "data_dir", "log"] {
            assert!(v["nodes"][0].get(field).is_some(), "missing {field}");
        }
    }

    #[test]
    fn config_lists_every_node() {
        let dir = tempfile::tempdir().unwrap();
        let toml = manifest(dir.path()).config_toml();
        assert!(toml.contains("initial_shards = 4"));
        assert!(toml.contains("replication_factor = 3"));
        assert!(toml.contains("election_timeout_min_ms = 1000"));
        assert_eq!(toml.matches("[[nodes]]").count(), 2);
        assert!(toml.contains("grpc_addr = \"127.0.0.1:7002\"\nstatus_addr = \"127.0.0.1:8002\""));
    }

    /// The exact text of a plain playground's config: `--secure` must not change it by a byte.
    #[test]
    fn plain_config_is_unchanged() {
        let m = manifest(Path::new("/pg"));
        let want = r#"# Written by `orderctl playground up`; regenerated on every `up`.
cluster_name = "playground"
initial_shards = 4
replication_factor = 3
default_region = "local"
idempotency_ttl_secs = 86400

[raft]
heartbeat_interval_ms = 250
election_timeout_min_ms = 1000
election_timeout_max_ms = 2000
snapshot_logs_since_last = 5000
max_in_snapshot_log_to_keep = 1000

[[nodes]]
id = 1
grpc_addr = "127.0.0.1:7001"
status_addr = "127.0.0.1:8001"
region = "local"
zone = "z1"

[[nodes]]
id = 2
grpc_addr = "127.0.0.1:7002"
status_addr = "127.0.0.1:8002"
region = "local"
zone = "z2"
"#;
        assert_eq!(m.config_toml(), want);
    }

    /// A secure playground's config turns TLS and authentication on, with absolute paths
    /// under the playground directory and the `{node_id}` placeholder left for the node; the
    /// rest of the text is the plain config's.
    #[test]
    fn secure_config_has_the_security_table() {
        let plain = manifest(Path::new("/pg"));
        let secure = PlaygroundManifest {
            secure: true,
            ..plain.clone()
        };
        let toml = secure.config_toml();
        let table = r#"
[security]
tls = true
auth = true
ca_cert = "/pg/certs/ca.pem"
cert = "/pg/certs/node-{node_id}.pem"
key = "/pg/certs/node-{node_id}.key"
tokens_file = "/pg/tokens.toml"
"#;
        assert!(toml.contains(table), "{toml}");
        assert_eq!(toml.replace(table, ""), plain.config_toml());
        // The text is TOML whose [security] table says what the server reads.
        let parsed: toml::Table = toml::from_str(&toml).unwrap();
        let sec = parsed["security"].as_table().unwrap();
        assert_eq!(sec["tls"].as_bool(), Some(true));
        assert_eq!(sec["auth"].as_bool(), Some(true));
        assert_eq!(sec["cert"].as_str(), Some("/pg/certs/node-{node_id}.pem"));
        assert_eq!(parsed["nodes"].as_array().unwrap().len(), 2);

        let odd = PlaygroundManifest {
            config: PathBuf::from("/p\\g \"x\"/cluster.toml"),
            ..secure
        };
        let parsed: toml::Table = toml::from_str(&odd.config_toml()).unwrap();
        assert_eq!(
            parsed["security"]["ca_cert"].as_str(),
            Some("/p\\g \"x\"/certs/ca.pem")
        );
    }

    /// Manifests written before `--secure` existed still load, as not secure.
    #[test]
    fn old_manifests_load_as_not_secure() {
        let dir = tempfile::tempdir().unwrap();
        let m = manifest(dir.path());
        let mut v = serde_json::to_value(&m).unwrap();
        v.as_object_mut().unwrap().remove("secure");
        std::fs::write(dir.path().join(MANIFEST_FILE), v.to_string()).unwrap();
        let loaded = PlaygroundManifest::load(dir.path()).unwrap().unwrap();
        assert!(!loaded.secure);
        assert_eq!(loaded.secure_files(), None);
        assert_eq!(loaded, m);
    }

    #[test]
    fn garbage_manifest_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(MANIFEST_FILE), "{not json").unwrap();
        assert!(matches!(
            PlaygroundManifest::load(dir.path()),
            Err(PlaygroundError::BadManifest { .. })
        ));
    }
}
