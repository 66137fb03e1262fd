//! Scenario tests of the cluster configuration: parsing, defaults, every validation error,
//! environment overrides, the TOML round trip, and that `CONFIG.md` documents every key.

use std::path::{Path, PathBuf};

use cluster_config::{
    ClusterConfig, ConfigError, ENV_OVERRIDES, KeyspacePlacement, LimitsConfig, MAX_MESSAGE_BYTES,
    MIN_MESSAGE_BYTES, NodeConfig, PlacementConfig, RaftConfig, SecurityConfig, SplitConfig,
    TokenStore,
};
use proptest::prelude::*;
use shard_router::{Keyspace, MembershipError, PolicyError, SplitThresholds, SurvivalGoal};

const THREE_NODES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/three-nodes.toml");
const SECURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/secure.toml");
const CONFIG_MD: &str = include_str!("../CONFIG.md");

fn node(id: u64) -> NodeConfig {
    NodeConfig {
        id,
        grpc_addr: format!("127.0.0.1:{}", 7000 + id),
        status_addr: format!("127.0.0.1:{}", 8000 + id),
        region: "local".into(),
        zone: format!("z{id}"),
        host: String::new(),
    }
}

/// A valid three-node config with default settings.
fn valid() -> ClusterConfig {
    ClusterConfig {
        nodes: (1..=3).map(node).collect(),
        ..ClusterConfig::default()
    }
}

/// TLS on, with every path it needs; authentication off.
fn tls_on() -> SecurityConfig {
    SecurityConfig {
        tls: true,
        ca_cert: "ca.pem".into(),
        cert: "node-{node_id}.pem".into(),
        key: "node-{node_id}.key".into(),
        ..SecurityConfig::default()
    }
}

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The example file with every key set parses to exactly those values and validates.
#[test]
fn full_example_file_parses() {
    let config = ClusterConfig::load(THREE_NODES).expect("example parses");
    assert_eq!(config.cluster_name, "local");
    assert_eq!(config.initial_shards, 16);
    assert_eq!(config.replication_factor, 3);
    assert_eq!(config.default_region, "eu-west");
    assert_eq!(config.idempotency_ttl_secs, 3600);
    assert_eq!(
        config.raft,
        RaftConfig {
            heartbeat_interval_ms: 100,
            election_timeout_min_ms: 500,
            election_timeout_max_ms: 900,
            snapshot_logs_since_last: 10_000,
            max_in_snapshot_log_to_keep: 2000,
            max_clock_offset_ms: 500,
        }
    );
    assert_eq!(
        config.security,
        SecurityConfig::default(),
        "no [security] table"
    );
    assert_eq!(config.limits, LimitsConfig::default(), "no [limits] table");
    assert_eq!(config.nodes.len(), 3);
    let n1 = config.node(1).expect("node 1");
    assert_eq!(
        (n1.region.as_str(), n1.zone.as_str(), n1.host()),
        ("eu-west", "z1", Some("rack1-a"))
    );
    assert_eq!(config.node(2).and_then(NodeConfig::host), None);
    assert_eq!(
        config.node(3).and_then(NodeConfig::host),
        None,
        "empty host means unset"
    );
    let n3 = config.node(3).expect("node 3");
    assert_eq!(n3.grpc_socket_addr().expect("ipv6 parses").port(), 7003);
    assert!(config.node(4).is_none());
    assert_eq!(
        config.placement.orders,
        KeyspacePlacement {
            survival_goal: SurvivalGoal::Zone,
            voters: Some(3),
            min_regions: 3,
            leader_preference: vec!["eu-west".into()],
        }
    );
    let payments = config.policy_set().payments;
    assert_eq!(
        (
            payments.survival_goal,
            payments.voters,
            payments.min_regions
        ),
        (SurvivalGoal::Region, 5, 4)
    );
    assert_eq!(config.placement.inventory, KeyspacePlacement::default());
    assert_eq!(config.policy_set().meta.voters, 5);
    assert_eq!(
        config.split_thresholds(),
        SplitThresholds {
            max_keys: 500_000,
            max_bytes: 64 << 20,
            max_requests_per_sec: 0,
        }
    );
    config.validate().expect("example is valid");
}

/// The secure example sets every `[security]` and `[limits]` key; it parses to exactly those values
/// and validates, and `{node_id}` is substituted per node.
#[test]
fn secure_example_file_parses() {
    let config = ClusterConfig::load(SECURE).expect("secure example parses");
    assert_eq!(
        config.security,
        SecurityConfig {
            tls: true,
            ca_cert: "/etc/orderstore/ca.pem".into(),
            cert: "/etc/orderstore/node-{node_id}.pem".into(),
            key: "/etc/orderstore/node-{node_id}.key".into(),
            auth: true,
            tokens_file: "/etc/orderstore/tokens.toml".into(),
            audit_log: "/var/log/orderstore/audit-{node_id}.jsonl".into(),
        }
    );
    assert_eq!(
        config.limits,
        LimitsConfig {
            max_inflight_requests: 256,
            max_queued_requests: 1024,
            queue_timeout_ms: 50,
            max_shard_proposals: 512,
            max_connections: 1000,
            max_message_bytes: 64 << 10,
            retry_after_ms: 25,
        }
    );
    config.validate().expect("secure example is valid");

    let data_dir = Path::new("/data/n12");
    for node in &config.nodes {
        let id = node.id;
        assert_eq!(
            config.security.cert_path(id),
            PathBuf::from(format!("/etc/orderstore/node-{id}.pem"))
        );
        assert_eq!(
            config.security.key_path(id),
            PathBuf::from(format!("/etc/orderstore/node-{id}.key"))
        );
        assert_eq!(
            config.security.audit_log_path(id, data_dir),
            PathBuf::from(format!("/var/log/orderstore/audit-{id}.jsonl"))
        );
    }
    assert_eq!(
        config.security.tokens_path(),
        Some(Path::new("/etc/orderstore/tokens.toml"))
    );
}

/// `{node_id}` is replaced wherever and however often it appears; paths without it are shared by
/// every node; an empty audit log path means `audit.log` in the node's data directory.
#[test]
fn node_id_placeholder_substitution() {
    let security = SecurityConfig {
        cert: "certs/{node_id}/node-{node_id}.pem".into(),
        key: "shared.key".into(),
        ..tls_on()
    };
    assert_eq!(security.cert_path(7), PathBuf::from("certs/7/node-7.pem"));
    assert_eq!(
        security.cert_path(u64::MAX),
        PathBuf::from(format!("certs/{0}/node-{0}.pem", u64::MAX))
    );
    assert_eq!(security.key_path(7), PathBuf::from("shared.key"));
    // Only the exact placeholder is replaced.
    let other = SecurityConfig {
        cert: "{node}-{NODE_ID}-{node_id".into(),
        ..tls_on()
    };
    assert_eq!(
        other.cert_path(3),
        PathBuf::from("{node}-{NODE_ID}-{node_id")
    );

    let data_dir = Path::new("/var/lib/orderstore/node-3");
    assert_eq!(
        SecurityConfig::default().audit_log_path(3, data_dir),
        data_dir.join("audit.log")
    );
    let relative = SecurityConfig {
        audit_log: "logs/audit-{node_id}.jsonl".into(),
        ..SecurityConfig::default()
    };
    assert_eq!(
        relative.audit_log_path(3, data_dir),
        PathBuf::from("logs/audit-3.jsonl"),
        "a set path is used as written, not joined to the data dir"
    );
    assert_eq!(SecurityConfig::default().tokens_path(), None);
}

/// A file with only node ids and addresses gets every documented default.
#[test]
fn minimal_file_takes_defaults() {
    let config = ClusterConfig::from_toml_str(
        r#"
        [[nodes]]
        id = 1
        grpc_addr = "127.0.0.1:7001"
        status_addr = "127.0.0.1:8001"
        "#,
    )
    .expect("minimal file parses");
    assert_eq!(config.cluster_name, "orderstore");
    assert_eq!(config.initial_shards, 8);
    assert_eq!(config.replication_factor, 3);
    assert_eq!(
        config.effective_replication_factor(),
        1,
        "capped by the single node"
    );
    assert_eq!(config.default_region, "local");
    assert_eq!(config.idempotency_ttl_secs, 86_400);
    assert_eq!(config.raft, RaftConfig::default());
    assert_eq!(
        (
            config.raft.heartbeat_interval_ms,
            config.raft.election_timeout_min_ms
        ),
        (250, 1000)
    );
    assert_eq!(
        (
            config.raft.election_timeout_max_ms,
            config.raft.snapshot_logs_since_last,
            config.raft.max_in_snapshot_log_to_keep
        ),
        (2000, 5000, 1000)
    );
    let n = &config.nodes[0];
    assert_eq!(
        (n.region.as_str(), n.zone.as_str(), n.host()),
        ("local", "z1", None)
    );
    assert_eq!(config.placement, PlacementConfig::default());
    for keyspace in Keyspace::ALL {
        let policy = config.policy_set().get(keyspace).clone();
        assert_eq!(
            (policy.survival_goal, policy.voters, policy.min_regions),
            (SurvivalGoal::Zone, 3, 3),
            "{keyspace}"
        );
        assert!(policy.leader_preference.is_empty());
    }
    assert_eq!(config.split, SplitConfig::default());
    assert_eq!(config.split_thresholds(), SplitThresholds::default());
    let security = &config.security;
    assert!(
        !security.tls && !security.auth,
        "security is off by default"
    );
    assert!(
        [
            &security.ca_cert,
            &security.cert,
            &security.key,
            &security.tokens_file,
            &security.audit_log
        ]
        .iter()
        .all(|path| path.is_empty())
    );
    let limits = &config.limits;
    assert_eq!(
        (
            limits.max_inflight_requests,
            limits.max_queued_requests,
            limits.queue_timeout_ms,
            limits.max_shard_proposals
        ),
        (512, 2048, 200, 1024)
    );
    assert_eq!(
        (
            limits.max_connections,
            limits.max_message_bytes,
            limits.retry_after_ms
        ),
        (4096, 4 << 20, 100)
    );
    config.validate().expect("defaults are valid");

    let empty = ClusterConfig::from_toml_str("").expect("empty file parses");
    assert_eq!(empty, ClusterConfig::default());
    assert!(matches!(empty.validate(), Err(ConfigError::NoNodes)));
}

#[test]
fn effective_replication_factor_is_capped_by_nodes() {
    let mut config = valid();
    assert_eq!(config.effective_replication_factor(), 3);
    config.replication_factor = 5;
    assert_eq!(config.effective_replication_factor(), 3);
    config.replication_factor = 2;
    assert_eq!(config.effective_replication_factor(), 2);
    config.nodes.clear();
    assert_eq!(config.effective_replication_factor(), 0);
}

/// Malformed files are Parse errors: bad syntax, wrong types, missing required keys, unknown keys
/// at every level.
#[test]
fn parse_errors() {
    let node = "[[nodes]]\nid = 1\ngrpc_addr = \"127.0.0.1:1\"\nstatus_addr = \"127.0.0.1:2\"\n";
    let cases = [
        ("syntax", "cluster_name = ".to_string()),
        ("wrong type", "initial_shards = \"eight\"".to_string()),
        ("negative into u32", "initial_shards = -1".to_string()),
        ("unknown top-level key", "replication = 3".to_string()),
        ("unknown raft key", "[raft]\nheartbeat_ms = 10".to_string()),
        ("unknown node key", format!("{node}zones = \"z1\"")),
        (
            "unknown keyspace",
            "[placement.refunds]\nvoters = 3".to_string(),
        ),
        (
            "unknown placement key",
            "[placement.orders]\nreplicas = 3".to_string(),
        ),
        (
            "unknown survival goal",
            "[placement.orders]\nsurvival_goal = \"planet\"".to_string(),
        ),
        ("unknown split key", "[split]\nmax_rows = 3".to_string()),
        (
            "unknown security key",
            "[security]\nmtls = true".to_string(),
        ),
        (
            "security bool as string",
            "[security]\ntls = \"true\"".to_string(),
        ),
        (
            "unknown limits key",
            "[limits]\nmax_requests = 3".to_string(),
        ),
        (
            "negative limit",
            "[limits]\nmax_connections = -1".to_string(),
        ),
        (
            "missing node id",
            "[[nodes]]\ngrpc_addr = \"a\"\nstatus_addr = \"b\"".to_string(),
        ),
        (
            "missing status addr",
            "[[nodes]]\nid = 1\ngrpc_addr = \"a\"".to_string(),
        ),
    ];
    for (name, text) in cases {
        match ClusterConfig::from_toml_str(&text) {
            Err(ConfigError::Parse(msg)) => assert!(!msg.is_empty(), "{name}"),
            other => panic!("case {name}: expected Parse error, got {other:?}"),
        }
    }
    let err = ClusterConfig::from_toml_str("replication = 3").expect_err("unknown key");
    assert!(
        err.to_string().contains("replication"),
        "message names the key: {err}"
    );
}

#[test]
fn load_reports_missing_file_and_bad_content() {
    let missing = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/does-not-exist.toml");
    match ClusterConfig::load(missing) {
        Err(ConfigError::Io { path, source }) => {
            assert!(path.ends_with("does-not-exist.toml"));
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected Io error, got {other:?}"),
    }
    // A file that is not TOML (this test's own source): the message carries the path.
    let not_toml = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/config.rs");
    let err = ClusterConfig::load(not_toml).expect_err("Rust is not TOML");
    assert!(
        matches!(&err, ConfigError::Parse(m) if m.contains("config.rs")),
        "{err}"
    );
}

/// One row per validation rule: a change that breaks a valid config, and the error it must give.
#[test]
fn each_validation_rule_has_its_error() {
    type Breaker = fn(&mut ClusterConfig);
    type Check = fn(&ConfigError) -> bool;
    let cases: Vec<(&str, Breaker, Check)> = vec![
        (
            "empty cluster name",
            |c| c.cluster_name.clear(),
            |e| matches!(e, ConfigError::BadClusterName(v) if v.is_empty()),
        ),
        (
            "uppercase cluster name",
            |c| c.cluster_name = "Prod".into(),
            |e| matches!(e, ConfigError::BadClusterName(v) if v == "Prod"),
        ),
        (
            "zero shards",
            |c| c.initial_shards = 0,
            |e| matches!(e, ConfigError::BadShardCount(0)),
        ),
        (
            "too many shards",
            |c| c.initial_shards = 4097,
            |e| matches!(e, ConfigError::BadShardCount(4097)),
        ),
        (
            "zero rf",
            |c| c.replication_factor = 0,
            |e| matches!(e, ConfigError::BadReplicationFactor(0)),
        ),
        (
            "bad default region",
            |c| c.default_region = "eu_west".into(),
            |e| matches!(e, ConfigError::BadDefaultRegion(v) if v == "eu_west"),
        ),
        (
            "zero ttl",
            |c| c.idempotency_ttl_secs = 0,
            |e| matches!(e, ConfigError::BadTtl(0)),
        ),
        (
            "zero heartbeat",
            |c| c.raft.heartbeat_interval_ms = 0,
            |e| {
                matches!(
                    e,
                    ConfigError::BadRaftTimeouts {
                        heartbeat_ms: 0,
                        ..
                    }
                )
            },
        ),
        (
            "heartbeat = election min",
            |c| c.raft.heartbeat_interval_ms = 1000,
            |e| {
                matches!(
                    e,
                    ConfigError::BadRaftTimeouts {
                        heartbeat_ms: 1000,
                        election_min_ms: 1000,
                        election_max_ms: 2000
                    }
                )
            },
        ),
        (
            "election min = max",
            |c| c.raft.election_timeout_max_ms = 1000,
            |e| {
                matches!(
                    e,
                    ConfigError::BadRaftTimeouts {
                        election_max_ms: 1000,
                        ..
                    }
                )
            },
        ),
        (
            "election min > max",
            |c| c.raft.election_timeout_min_ms = 3000,
            |e| {
                matches!(
                    e,
                    ConfigError::BadRaftTimeouts {
                        election_min_ms: 3000,
                        ..
                    }
                )
            },
        ),
        (
            "zero snapshot threshold",
            |c| c.raft.snapshot_logs_since_last = 0,
            |e| matches!(e, ConfigError::BadSnapshotThreshold(0)),
        ),
        (
            "zero clock offset bound",
            |c| c.raft.max_clock_offset_ms = 0,
            |e| matches!(e, ConfigError::BadClockOffset(0)),
        ),
        (
            "tls without ca_cert",
            |c| {
                c.security = tls_on();
                c.security.ca_cert.clear();
            },
            |e| matches!(e, ConfigError::TlsPathMissing { key: "ca_cert" }),
        ),
        (
            "tls without cert",
            |c| {
                c.security = tls_on();
                c.security.cert.clear();
            },
            |e| matches!(e, ConfigError::TlsPathMissing { key: "cert" }),
        ),
        (
            "tls without key",
            |c| {
                c.security = tls_on();
                c.security.key.clear();
            },
            |e| matches!(e, ConfigError::TlsPathMissing { key: "key" }),
        ),
        (
            "tls without any path reports ca_cert first",
            |c| c.security.tls = true,
            |e| matches!(e, ConfigError::TlsPathMissing { key: "ca_cert" }),
        ),
        (
            "auth without tls",
            |c| c.security.auth = true,
            |e| matches!(e, ConfigError::AuthNeedsTls),
        ),
        (
            "auth without tls even with certificate paths",
            |c| {
                c.security = tls_on();
                c.security.tls = false;
                c.security.auth = true;
            },
            |e| matches!(e, ConfigError::AuthNeedsTls),
        ),
        (
            "tokens file without auth",
            |c| c.security.tokens_file = "tokens.toml".into(),
            |e| matches!(e, ConfigError::TokensNeedAuth(path) if path == "tokens.toml"),
        ),
        (
            "tokens file with tls but without auth",
            |c| {
                c.security = tls_on();
                c.security.tokens_file = "tokens.toml".into();
            },
            |e| matches!(e, ConfigError::TokensNeedAuth(_)),
        ),
        (
            "zero inflight requests",
            |c| c.limits.max_inflight_requests = 0,
            |e| {
                matches!(
                    e,
                    ConfigError::BadLimit {
                        key: "max_inflight_requests",
                        value: 0,
                        min: 1,
                        ..
                    }
                )
            },
        ),
        (
            "zero queued requests",
            |c| c.limits.max_queued_requests = 0,
            |e| {
                matches!(
                    e,
                    ConfigError::BadLimit {
                        key: "max_queued_requests",
                        value: 0,
                        ..
                    }
                )
            },
        ),
        (
            "zero queue timeout",
            |c| c.limits.queue_timeout_ms = 0,
            |e| {
                matches!(
                    e,
                    ConfigError::BadLimit {
                        key: "queue_timeout_ms",
                        value: 0,
                        ..
                    }
                )
            },
        ),
        (
            "zero shard proposals",
            |c| c.limits.max_shard_proposals = 0,
            |e| {
                matches!(
                    e,
                    ConfigError::BadLimit {
                        key: "max_shard_proposals",
                        value: 0,
                        ..
                    }
                )
            },
        ),
        (
            "zero connections",
            |c| c.limits.max_connections = 0,
            |e| {
                matches!(
                    e,
                    ConfigError::BadLimit {
                        key: "max_connections",
                        value: 0,
                        ..
                    }
                )
            },
        ),
        (
            "zero message size",
            |c| c.limits.max_message_bytes = 0,
            |e| {
                matches!(
                    e,
                    ConfigError::BadLimit {
                        key: "max_message_bytes",
                        value: 0,
                        ..
                    }
                )
            },
        ),
        (
            "message size just below 64 KiB",
            |c| c.limits.max_message_bytes = MIN_MESSAGE_BYTES - 1,
            |e| {
                matches!(
                    e,
                    ConfigError::BadLimit {
                        key: "max_message_bytes",
                        value: 65_535,
                        min: 65_536,
                        max: 268_435_456
                    }
                )
            },
        ),
        (
            "message size just above 256 MiB",
            |c| c.limits.max_message_bytes = MAX_MESSAGE_BYTES + 1,
            |e| {
                matches!(
                    e,
                    ConfigError::BadLimit {
                        key: "max_message_bytes",
                        value: 268_435_457,
                        ..
                    }
                )
            },
        ),
        (
            "zero retry-after hint",
            |c| c.limits.retry_after_ms = 0,
            |e| {
                matches!(
                    e,
                    ConfigError::BadLimit {
                        key: "retry_after_ms",
                        value: 0,
                        ..
                    }
                )
            },
        ),
        (
            "no nodes",
            |c| c.nodes.clear(),
            |e| matches!(e, ConfigError::NoNodes),
        ),
        (
            "zero node id",
            |c| c.nodes[1].id = 0,
            |e| matches!(e, ConfigError::ZeroNodeId),
        ),
        (
            "duplicate node id",
            |c| c.nodes[2].id = 1,
            |e| matches!(e, ConfigError::DuplicateNodeId(1)),
        ),
        (
            "host name grpc addr",
            |c| c.nodes[1].grpc_addr = "node2:7002".into(),
            |e| matches!(e, ConfigError::BadAddr { node: 2, field: "grpc_addr", addr } if addr == "node2:7002"),
        ),
        (
            "status addr without port",
            |c| c.nodes[0].status_addr = "127.0.0.1".into(),
            |e| {
                matches!(
                    e,
                    ConfigError::BadAddr {
                        node: 1,
                        field: "status_addr",
                        ..
                    }
                )
            },
        ),
        (
            "two nodes same grpc addr",
            |c| c.nodes[2].grpc_addr = c.nodes[0].grpc_addr.clone(),
            |e| matches!(e, ConfigError::DuplicateAddr(a) if a == "127.0.0.1:7001"),
        ),
        (
            "grpc addr = status addr",
            |c| c.nodes[0].status_addr = c.nodes[0].grpc_addr.clone(),
            |e| matches!(e, ConfigError::DuplicateAddr(a) if a == "127.0.0.1:7001"),
        ),
        (
            "same addr spelled differently",
            |c| c.nodes[1].status_addr = "127.0.0.1:08001".into(),
            |e| matches!(e, ConfigError::DuplicateAddr(a) if a == "127.0.0.1:8001"),
        ),
        (
            "empty zone",
            |c| c.nodes[1].zone.clear(),
            |e| matches!(e, ConfigError::BadLabel { node: 2, label: "zone", value } if value.is_empty()),
        ),
        (
            "region with space",
            |c| c.nodes[2].region = "eu west".into(),
            |e| {
                matches!(
                    e,
                    ConfigError::BadLabel {
                        node: 3,
                        label: "region",
                        ..
                    }
                )
            },
        ),
        (
            "64-char zone",
            |c| c.nodes[0].zone = "z".repeat(64),
            |e| {
                matches!(
                    e,
                    ConfigError::BadLabel {
                        node: 1,
                        label: "zone",
                        ..
                    }
                )
            },
        ),
        (
            "host in two zones",
            |c| {
                c.nodes[0].host = "rack-a".into();
                c.nodes[2].host = "rack-a".into();
            },
            |e| {
                matches!(
                    e,
                    ConfigError::Membership(MembershipError::HostSpansZones {
                        first: 1,
                        second: 3,
                        ..
                    })
                )
            },
        ),
        (
            "zero voters",
            |c| c.placement.inventory.voters = Some(0),
            |e| {
                matches!(
                    e,
                    ConfigError::BadPlacement {
                        keyspace: Keyspace::Inventory,
                        source: PolicyError::ZeroVoters
                    }
                )
            },
        ),
        (
            "eight voters",
            |c| c.placement.meta.voters = Some(8),
            |e| {
                matches!(
                    e,
                    ConfigError::BadPlacement {
                        keyspace: Keyspace::Meta,
                        source: PolicyError::TooManyVoters { voters: 8, .. }
                    }
                )
            },
        ),
        (
            "region goal over two regions",
            |c| {
                c.placement.orders.survival_goal = SurvivalGoal::Region;
                c.placement.orders.min_regions = 2;
            },
            |e| {
                matches!(
                    e,
                    ConfigError::BadPlacement {
                        keyspace: Keyspace::Orders,
                        source: PolicyError::TooFewMinRegions { min_regions: 2 }
                    }
                )
            },
        ),
        (
            "region goal with two voters",
            |c| {
                c.placement.payments.survival_goal = SurvivalGoal::Region;
                c.placement.payments.voters = Some(2);
            },
            |e| {
                matches!(
                    e,
                    ConfigError::BadPlacement {
                        keyspace: Keyspace::Payments,
                        source: PolicyError::RegionGoalNeedsThreeVoters { voters: 2 }
                    }
                )
            },
        ),
        (
            "repeated leader region",
            |c| c.placement.orders.leader_preference = vec!["local".into(), "local".into()],
            |e| {
                matches!(
                    e,
                    ConfigError::BadPlacement {
                        source: PolicyError::DuplicateLeaderRegion(_),
                        ..
                    }
                )
            },
        ),
        (
            "leader region without nodes",
            |c| c.placement.payments.leader_preference = vec!["local".into(), "us-east".into()],
            |e| {
                matches!(
                    e,
                    ConfigError::UnknownLeaderRegion { keyspace: Keyspace::Payments, region }
                        if region == "us-east"
                )
            },
        ),
    ];
    valid().validate().expect("the base config is valid");

    for (name, breaker, check) in cases {
        let mut config = valid();
        breaker(&mut config);
        match config.validate() {
            Err(err) => assert!(check(&err), "case {name}: unexpected error {err:?}"),
            Ok(()) => panic!("case {name}: validated"),
        }
    }
    // The edges of the accepted ranges are accepted.
    let mut edge = valid();
    edge.initial_shards = 4096;
    edge.cluster_name = "a".repeat(63);
    edge.nodes[0].zone = "zone-0-9".into();
    edge.idempotency_ttl_secs = 1;
    edge.raft.heartbeat_interval_ms = 1;
    edge.raft.election_timeout_min_ms = 2;
    edge.raft.election_timeout_max_ms = 3;
    edge.placement.orders.voters = Some(7);
    edge.placement.meta.voters = Some(1);
    edge.split = SplitConfig {
        max_keys: 0,
        max_bytes: 0,
        max_requests_per_sec: 0,
    };
    edge.limits = LimitsConfig {
        max_inflight_requests: 1,
        max_queued_requests: 1,
        queue_timeout_ms: 1,
        max_shard_proposals: 1,
        max_connections: 1,
        max_message_bytes: MIN_MESSAGE_BYTES,
        retry_after_ms: 1,
    };
    edge.validate().expect("edge values are valid");
    edge.limits = LimitsConfig {
        max_inflight_requests: u32::MAX,
        max_queued_requests: u32::MAX,
        queue_timeout_ms: u64::MAX,
        max_shard_proposals: u32::MAX,
        max_connections: u32::MAX,
        max_message_bytes: MAX_MESSAGE_BYTES,
        retry_after_ms: u64::MAX,
    };
    edge.validate().expect("upper edge values are valid");

    // Every consistent combination of the security switches validates.
    for security in [
        SecurityConfig::default(),
        tls_on(),
        SecurityConfig {
            auth: true,
            ..tls_on()
        },
        SecurityConfig {
            auth: true,
            tokens_file: "tokens.toml".into(),
            audit_log: "audit-{node_id}.log".into(),
            ..tls_on()
        },
        SecurityConfig {
            // Paths without tls are kept (e.g. for switching tls on by env) and not checked.
            ca_cert: "ca.pem".into(),
            audit_log: "audit.log".into(),
            ..SecurityConfig::default()
        },
    ] {
        let config = ClusterConfig {
            security: security.clone(),
            ..valid()
        };
        config
            .validate()
            .unwrap_or_else(|e| panic!("{security:?}: {e}"));
    }
}

/// validate() checks raft, then security, then limits, then the nodes: with several sections
/// broken at once, each fix reveals the next section's error.
#[test]
fn validation_order_raft_security_limits_nodes() {
    let mut config = valid();
    config.raft.snapshot_logs_since_last = 0;
    config.security.auth = true;
    config.limits.max_connections = 0;
    config.nodes.clear();
    assert!(matches!(
        config.validate(),
        Err(ConfigError::BadSnapshotThreshold(0))
    ));
    config.raft = RaftConfig::default();
    assert!(matches!(config.validate(), Err(ConfigError::AuthNeedsTls)));
    config.security = SecurityConfig::default();
    assert!(matches!(
        config.validate(),
        Err(ConfigError::BadLimit {
            key: "max_connections",
            ..
        })
    ));
    config.limits = LimitsConfig::default();
    assert!(matches!(config.validate(), Err(ConfigError::NoNodes)));

    // Within [security]: tls paths, then auth needs tls, then tokens need auth.
    let security = SecurityConfig {
        tls: true,
        tokens_file: "t.toml".into(),
        ..SecurityConfig::default()
    };
    assert!(matches!(
        security.validate(),
        Err(ConfigError::TlsPathMissing { key: "ca_cert" })
    ));
    // Within [limits]: field order.
    let limits = LimitsConfig {
        max_queued_requests: 0,
        retry_after_ms: 0,
        ..LimitsConfig::default()
    };
    assert!(matches!(
        limits.validate(),
        Err(ConfigError::BadLimit {
            key: "max_queued_requests",
            ..
        })
    ));
}

/// Placement is checked for consistency, not capacity: the default policies on a one-node or a
/// three-node single-region playground validate, and so does a region-survival policy on a
/// cluster that does not (yet) have three regions.
#[test]
fn placement_does_not_demand_capacity() {
    let mut one = valid();
    one.nodes.truncate(1);
    one.validate().expect("one-node playground");
    valid().validate().expect("three-node playground");
    let mut region = valid();
    region.placement.orders = KeyspacePlacement {
        survival_goal: SurvivalGoal::Region,
        ..KeyspacePlacement::default()
    };
    assert_eq!(region.placement.orders.effective_voters(), 5);
    assert_eq!(region.policy_set().orders.voters, 5);
    region
        .validate()
        .expect("capacity is the planner's concern");
    let membership = region.initial_membership().expect("labels are consistent");
    assert_eq!(membership.len(), 3);
    assert!(
        membership
            .nodes()
            .all(|n| n.state == shard_router::NodeState::Up && n.host.is_none())
    );
}

/// The placement tables read as documented in CONFIG.md.
#[test]
fn placement_tables_parse() {
    let config = ClusterConfig::from_toml_str(
        r#"
        [placement.orders]
        survival_goal = "region"
        min_regions = 4
        leader_preference = ["eu-west", "us-east"]

        [placement.meta]
        voters = 5
        "#,
    )
    .expect("parses");
    let policies = config.policy_set();
    assert_eq!(
        (
            policies.orders.survival_goal,
            policies.orders.voters,
            policies.orders.min_regions
        ),
        (SurvivalGoal::Region, 5, 4)
    );
    assert_eq!(
        policies.orders.leader_preference,
        vec!["eu-west", "us-east"]
    );
    assert_eq!(
        (policies.meta.survival_goal, policies.meta.voters),
        (SurvivalGoal::Zone, 5)
    );
    assert_eq!(policies.inventory, shard_router::PlacementPolicy::default());
}

/// Every documented variable overrides its key; unrelated variables are ignored.
#[test]
fn env_overrides_apply() {
    let mut config = valid();
    config
        .apply_env_overrides(vars(&[
            ("PATH", "/usr/bin"),
            ("ORDERSTORE_NODE_ID", "7"), // another component's variable: ignored
            ("ORDERSTORE_CLUSTER_NAME", "staging"),
            ("ORDERSTORE_INITIAL_SHARDS", "64"),
            ("ORDERSTORE_REPLICATION_FACTOR", " 5 "),
            ("ORDERSTORE_DEFAULT_REGION", "us-east"),
            ("ORDERSTORE_IDEMPOTENCY_TTL_SECS", "600"),
            ("ORDERSTORE_RAFT_HEARTBEAT_INTERVAL_MS", "50"),
            ("ORDERSTORE_RAFT_ELECTION_TIMEOUT_MIN_MS", "300"),
            ("ORDERSTORE_RAFT_ELECTION_TIMEOUT_MAX_MS", "600"),
            ("ORDERSTORE_RAFT_SNAPSHOT_LOGS_SINCE_LAST", "100"),
            ("ORDERSTORE_RAFT_MAX_IN_SNAPSHOT_LOG_TO_KEEP", "10"),
            ("ORDERSTORE_RAFT_MAX_CLOCK_OFFSET_MS", "250"),
            ("ORDERSTORE_SPLIT_MAX_KEYS", "1000"),
            ("ORDERSTORE_SPLIT_MAX_BYTES", "2048"),
            ("ORDERSTORE_SPLIT_MAX_REQUESTS_PER_SEC", "0"),
            ("ORDERSTORE_SECURITY_TLS", "true"),
            ("ORDERSTORE_SECURITY_CA_CERT", "/pki/ca.pem"),
            ("ORDERSTORE_SECURITY_CERT", "/pki/node-{node_id}.pem"),
            ("ORDERSTORE_SECURITY_KEY", " /pki/node-{node_id}.key"), // verbatim, space kept
            ("ORDERSTORE_SECURITY_AUTH", " true\n"),
            ("ORDERSTORE_SECURITY_TOKENS_FILE", "/pki/tokens.toml"),
            (
                "ORDERSTORE_SECURITY_AUDIT_LOG",
                "/logs/audit-{node_id}.jsonl",
            ),
            ("ORDERSTORE_LIMITS_MAX_INFLIGHT_REQUESTS", "64"),
            ("ORDERSTORE_LIMITS_MAX_QUEUED_REQUESTS", "128"),
            ("ORDERSTORE_LIMITS_QUEUE_TIMEOUT_MS", "75"),
            ("ORDERSTORE_LIMITS_MAX_SHARD_PROPOSALS", "32"),
            ("ORDERSTORE_LIMITS_MAX_CONNECTIONS", "100"),
            ("ORDERSTORE_LIMITS_MAX_MESSAGE_BYTES", "1048576"),
            ("ORDERSTORE_LIMITS_RETRY_AFTER_MS", "20"),
        ]))
        .expect("all values parse");
    let expected = ClusterConfig {
        cluster_name: "staging".into(),
        initial_shards: 64,
        replication_factor: 5,
        default_region: "us-east".into(),
        idempotency_ttl_secs: 600,
        raft: RaftConfig {
            heartbeat_interval_ms: 50,
            election_timeout_min_ms: 300,
            election_timeout_max_ms: 600,
            snapshot_logs_since_last: 100,
            max_in_snapshot_log_to_keep: 10,
            max_clock_offset_ms: 250,
        },
        placement: PlacementConfig::default(),
        split: SplitConfig {
            max_keys: 1000,
            max_bytes: 2048,
            max_requests_per_sec: 0,
        },
        security: SecurityConfig {
            tls: true,
            ca_cert: "/pki/ca.pem".into(),
            cert: "/pki/node-{node_id}.pem".into(),
            key: " /pki/node-{node_id}.key".into(),
            auth: true,
            tokens_file: "/pki/tokens.toml".into(),
            audit_log: "/logs/audit-{node_id}.jsonl".into(),
        },
        limits: LimitsConfig {
            max_inflight_requests: 64,
            max_queued_requests: 128,
            queue_timeout_ms: 75,
            max_shard_proposals: 32,
            max_connections: 100,
            max_message_bytes: 1 << 20,
            retry_after_ms: 20,
        },
        nodes: valid().nodes,
    };
    assert_eq!(config, expected);
    config.validate().expect("overridden config is valid");
}

/// A bad value is a typed error naming the variable, and nothing is applied, not even the
/// good variables that came before it.
#[test]
fn env_override_bad_value_changes_nothing() {
    let mut config = valid();
    let before = config.clone();
    let err = config
        .apply_env_overrides(vars(&[
            ("ORDERSTORE_CLUSTER_NAME", "staging"),
            ("ORDERSTORE_INITIAL_SHARDS", "lots"),
        ]))
        .expect_err("'lots' is not a number");
    match &err {
        ConfigError::Env { var, value, reason } => {
            assert_eq!(var, "ORDERSTORE_INITIAL_SHARDS");
            assert_eq!(value, "lots");
            assert!(!reason.is_empty());
        }
        other => panic!("expected Env error, got {other:?}"),
    }
    assert!(
        err.to_string().contains("ORDERSTORE_INITIAL_SHARDS"),
        "{err}"
    );
    assert_eq!(config, before);

    for (var, value) in [
        ("ORDERSTORE_REPLICATION_FACTOR", "-1"),
        ("ORDERSTORE_IDEMPOTENCY_TTL_SECS", ""),
        ("ORDERSTORE_RAFT_HEARTBEAT_INTERVAL_MS", "1.5"),
        ("ORDERSTORE_INITIAL_SHARDS", "4294967296"), // u32::MAX + 1
        ("ORDERSTORE_SPLIT_MAX_BYTES", "256MiB"),
        ("ORDERSTORE_SECURITY_TLS", "yes"),
        ("ORDERSTORE_SECURITY_TLS", "1"),
        ("ORDERSTORE_SECURITY_AUTH", "TRUE"),
        ("ORDERSTORE_SECURITY_AUTH", ""),
        ("ORDERSTORE_LIMITS_MAX_CONNECTIONS", "-1"),
        ("ORDERSTORE_LIMITS_MAX_MESSAGE_BYTES", "4294967296"), // u32::MAX + 1
        ("ORDERSTORE_LIMITS_QUEUE_TIMEOUT_MS", "200ms"),
    ] {
        let err = config
            .apply_env_overrides(vars(&[(var, value)]))
            .expect_err(value);
        assert!(
            matches!(&err, ConfigError::Env { var: v, .. } if v == var),
            "{err:?}"
        );
    }
    assert_eq!(config, before);

    // A value that parses but is invalid is caught by validate, not by the override.
    config
        .apply_env_overrides(vars(&[("ORDERSTORE_INITIAL_SHARDS", "0")]))
        .expect("parses");
    assert!(matches!(
        config.validate(),
        Err(ConfigError::BadShardCount(0))
    ));

    // Switching auth on by environment without tls parses, and validate rejects it.
    let mut config = valid();
    config
        .apply_env_overrides(vars(&[("ORDERSTORE_SECURITY_AUTH", "true")]))
        .expect("parses");
    assert!(matches!(config.validate(), Err(ConfigError::AuthNeedsTls)));
}

/// to_toml_string output reads back to an equal config, for the example file and for defaults.
#[test]
fn toml_round_trip() {
    for config in [
        ClusterConfig::load(THREE_NODES).expect("example parses"),
        ClusterConfig::load(SECURE).expect("secure example parses"),
        valid(),
    ] {
        let text = config.to_toml_string().expect("serialisable");
        let back = ClusterConfig::from_toml_str(&text).expect("own output parses");
        assert_eq!(back, config, "round trip of:\n{text}");
    }
    let text = valid().to_toml_string().expect("serialisable");
    assert!(!text.contains("host"), "unset host is omitted:\n{text}");
    assert!(
        text.contains("[raft]") && text.contains("[[nodes]]"),
        "{text}"
    );
}

/// Values above i64::MAX (the TOML standard's limit, reachable only through env overrides) still
/// round-trip through this crate instead of producing an unreadable file.
#[test]
fn round_trip_beyond_i64() {
    let mut config = valid();
    let max = u64::MAX.to_string();
    config
        .apply_env_overrides(vars(&[("ORDERSTORE_IDEMPOTENCY_TTL_SECS", max.as_str())]))
        .expect("u64::MAX parses");
    let text = config.to_toml_string().expect("serialisable");
    assert_eq!(
        ClusterConfig::from_toml_str(&text).expect("reads back"),
        config
    );
}

/// Every key of `table`, recursing into tables and arrays of tables.
fn collect_keys(table: &toml::Table, out: &mut Vec<String>) {
    for (key, value) in table {
        out.push(key.clone());
        match value {
            toml::Value::Table(inner) => collect_keys(inner, out),
            toml::Value::Array(items) => {
                for inner in items.iter().filter_map(toml::Value::as_table) {
                    collect_keys(inner, out);
                }
            }
            _ => {}
        }
    }
}

/// CONFIG.md stays in step with the code: every key (at every depth), every override variable,
/// the token file's keys and roles; every cluster example parses and validates, and the token
/// file example parses.
#[test]
fn config_reference_documents_everything() {
    let keys = toml::Value::try_from(ClusterConfig::load(THREE_NODES).expect("parses"))
        .expect("serialisable");
    let table = keys.as_table().expect("a config serialises to a table");
    let mut documented = Vec::new();
    collect_keys(table, &mut documented);
    for key in documented {
        let spellings = [
            format!("`{key}`"),
            format!("`[{key}]`"),
            format!("`[[{key}]]`"),
        ];
        assert!(
            spellings.iter().any(|s| CONFIG_MD.contains(s.as_str())),
            "CONFIG.md does not document `{key}`"
        );
    }
    for (var, key) in ENV_OVERRIDES {
        let leaf = key.rsplit('.').next().unwrap_or(key);
        let row = CONFIG_MD
            .lines()
            .find(|l| l.starts_with(&format!("| `{leaf}`")))
            .unwrap_or_else(|| panic!("CONFIG.md has no row for `{leaf}`"));
        assert!(
            row.contains(var),
            "CONFIG.md row for `{leaf}` does not name {var}"
        );
    }
    for key in ["[[tokens]]", "name", "role", "sha256"] {
        assert!(
            CONFIG_MD.contains(&format!("`{key}`")),
            "CONFIG.md does not document the token file key `{key}`"
        );
    }
    for role in cluster_config::Role::ALL {
        assert!(
            CONFIG_MD.contains(&format!("`{role}`")),
            "CONFIG.md does not document the role `{role}`"
        );
    }
    let examples: Vec<&str> = CONFIG_MD
        .split("```toml")
        .skip(1)
        .filter_map(|rest| rest.split("```").next())
        .collect();
    let (token_files, configs): (Vec<&str>, Vec<&str>) = examples
        .into_iter()
        .partition(|text| text.contains("[[tokens]]"));
    assert!(!configs.is_empty(), "CONFIG.md has a cluster example");
    assert_eq!(token_files.len(), 1, "CONFIG.md has one token file example");
    for example in configs {
        let config = ClusterConfig::from_toml_str(example)
            .unwrap_or_else(|e| panic!("CONFIG.md example does not parse: {e}\n{example}"));
        config
            .validate()
            .unwrap_or_else(|e| panic!("CONFIG.md example is invalid: {e}\n{example}"));
    }
    let store = TokenStore::from_toml_str(token_files[0]).expect("token file example parses");
    assert!(!store.is_empty());
}

fn label() -> impl Strategy<Value = String> {
    "[a-z0-9-]{1,12}"
}

fn arb_keyspace() -> impl Strategy<Value = KeyspacePlacement> {
    (
        prop_oneof![Just(SurvivalGoal::Zone), Just(SurvivalGoal::Region)],
        proptest::option::of(0u32..10),
        0u32..10,
        proptest::collection::vec(label(), 0..3),
    )
        .prop_map(|(survival_goal, voters, min_regions, leader_preference)| {
            KeyspacePlacement {
                survival_goal,
                voters,
                min_regions,
                leader_preference,
            }
        })
}

fn arb_placement() -> impl Strategy<Value = PlacementConfig> {
    (
        arb_keyspace(),
        arb_keyspace(),
        arb_keyspace(),
        arb_keyspace(),
    )
        .prop_map(|(orders, inventory, payments, meta)| PlacementConfig {
            orders,
            inventory,
            payments,
            meta,
        })
}

fn arb_split() -> impl Strategy<Value = SplitConfig> {
    (0u64..=i64::MAX as u64, any::<u64>(), 0u64..100_000).prop_map(
        |(max_keys, max_bytes, max_requests_per_sec)| SplitConfig {
            max_keys,
            max_bytes,
            max_requests_per_sec,
        },
    )
}

fn arb_path() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z/._-]{1,20}",
        "[a-z/]{0,8}\\{node_id\\}[a-z.]{0,5}",
        any::<String>(),
    ]
}

fn arb_security() -> impl Strategy<Value = SecurityConfig> {
    (
        any::<(bool, bool)>(),
        (arb_path(), arb_path(), arb_path(), arb_path(), arb_path()),
    )
        .prop_map(
            |((tls, auth), (ca_cert, cert, key, tokens_file, audit_log))| SecurityConfig {
                tls,
                ca_cert,
                cert,
                key,
                auth,
                tokens_file,
                audit_log,
            },
        )
}

fn arb_limits() -> impl Strategy<Value = LimitsConfig> {
    (
        any::<(u32, u32, u32, u32, u32)>(),
        (0u64..=i64::MAX as u64, any::<u64>()),
    )
        .prop_map(
            |(
                (
                    max_inflight_requests,
                    max_queued_requests,
                    max_shard_proposals,
                    max_connections,
                    max_message_bytes,
                ),
                (queue_timeout_ms, retry_after_ms),
            )| LimitsConfig {
                max_inflight_requests,
                max_queued_requests,
                queue_timeout_ms,
                max_shard_proposals,
                max_connections,
                max_message_bytes,
                retry_after_ms,
            },
        )
}

fn arb_config() -> impl Strategy<Value = ClusterConfig> {
    let node = (1u64..1000, label(), label(), "[a-z0-9.-]{0,8}");
    (
        (label(), 1u32..=4096, 1u32..=7, label(), 1u64..=u64::MAX),
        (
            1u64..100,
            100u64..1000,
            1000u64..5000,
            1u64..100_000,
            0u64..100_000,
        ),
        proptest::collection::vec(node, 0..6),
        (arb_placement(), arb_split(), arb_security(), arb_limits()),
    )
        .prop_map(
            |(
                (name, shards, rf, region, ttl),
                (hb, emin, emax, snap, keep),
                nodes,
                (placement, split, security, limits),
            )| {
                ClusterConfig {
                    cluster_name: name,
                    initial_shards: shards,
                    replication_factor: rf,
                    default_region: region,
                    idempotency_ttl_secs: ttl,
                    raft: RaftConfig {
                        heartbeat_interval_ms: hb,
                        election_timeout_min_ms: emin,
                        election_timeout_max_ms: emax,
                        snapshot_logs_since_last: snap,
                        max_in_snapshot_log_to_keep: keep,
                        max_clock_offset_ms: 500,
                    },
                    placement: placement.clone(),
                    split: split.clone(),
                    security: security.clone(),
                    limits: limits.clone(),
                    nodes: nodes
                        .into_iter()
                        .enumerate()
                        .map(|(i, (id, region, zone, host))| NodeConfig {
                            id,
                            grpc_addr: format!("10.0.0.{i}:7001"),
                            status_addr: format!("10.0.0.{i}:8001"),
                            region,
                            zone,
                            host,
                        })
                        .collect(),
                }
            },
        )
}

proptest! {
    /// Any config survives to_toml_string -> from_toml_str unchanged.
    #[test]
    fn round_trip_any_config(config in arb_config()) {
        let text = config.to_toml_string().expect("serialisable");
        prop_assert_eq!(ClusterConfig::from_toml_str(&text).expect("own output parses"), config);
    }
}
