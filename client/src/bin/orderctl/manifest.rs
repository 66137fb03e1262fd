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
