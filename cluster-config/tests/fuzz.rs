//! Fuzzing of the parsers and overrides with proptest: whatever text, bytes or environment a
//! process is given, the config crate answers with a value or a typed error and never panics;
//! whatever it accepts round-trips; overrides are all or nothing; and the token store accepts
//! exactly its tokens.
//!
//! Case counts are sized so the whole file runs in a few seconds in a debug build.

use std::collections::HashMap;

use cluster_config::{
    ClusterConfig, ConfigError, ENV_OVERRIDES, LimitsConfig, NodeConfig, Principal, Role,
    SecurityConfig, TokenStore, token_sha256_hex,
};
use proptest::prelude::*;
use proptest::sample::{Index, select};

const THREE_NODES: &str = include_str!("../testdata/three-nodes.toml");
const SECURE: &str = include_str!("../testdata/secure.toml");
const TOKENS: &str = include_str!("../testdata/tokens.toml");

/// Cases for the cheap, text-only properties.
const TEXT_CASES: u32 = 2000;

/// Pieces of config and token-file syntax, so random text reaches past the TOML tokenizer into
/// the typed fields and the validation rules.
const FRAGMENTS: &[&str] = &[
    "cluster_name",
    "initial_shards",
    "replication_factor",
    "default_region",
    "idempotency_ttl_secs",
    "[raft]",
    "heartbeat_interval_ms",
    "election_timeout_min_ms",
    "[split]",
    "max_keys",
    "[placement.orders]",
    "[placement.meta]",
    "survival_goal",
    "\"region\"",
    "voters",
    "leader_preference",
    "[security]",
    "tls",
    "auth",
    "ca_cert",
    "cert",
    "key",
    "tokens_file",
    "audit_log",
    "[limits]",
    "max_message_bytes",
    "max_inflight_requests",
    "retry_after_ms",
    "[[nodes]]",
    "id",
    "grpc_addr",
    "status_addr",
    "zone",
    "host",
    "[[tokens]]",
    "name",
    "role",
    "sha256",
    "\"admin\"",
    "\"node\"",
    "\"reader\"",
    "\"9c220f200955d76c0a38d308225e0ef10c5f971acaf2f8d1d8f732affa5bd1dc\"",
    "\"127.0.0.1:7001\"",
    "\"[::1]:8001\"",
    "\"{node_id}\"",
    " = ",
    "=",
    "\n",
    " ",
    "\"",
    "'",
    "\"\"\"",
    "[",
    "]",
    "{",
    "}",
    ",",
    ".",
    "#",
    "true",
    "false",
    "0",
    "1",
    "-1",
    "65536",
    "4294967296",
    "9223372036854775807",
    "18446744073709551615",
    "18446744073709551616",
    "1.5",
    "1979-05-27",
    "\"x\"",
];

/// The kind of value a key takes, so shaped files mostly have the right types.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Number,
    Text,
    Bool,
    List,
}

/// Values of each kind, edge cases included.
fn values(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Number => &[
            "0",
            "1",
            "3",
            "7",
            "500",
            "65535",
            "65536",
            "268435457",
            "4294967295",
            "4294967296",
            "9223372036854775807",
            "18446744073709551615",
            "-1",
        ],
        Kind::Text => &[
            "\"\"",
            "\"local\"",
            "\"z2\"",
            "\"region\"",
            "\"admin\"",
            "\"node\"",
            "\"reader\"",
            "\"ca.pem\"",
            "\"n-{node_id}.pem\"",
            "\"127.0.0.1:7001\"",
            "\"127.0.0.1:8001\"",
            "\"[::1]:7003\"",
            "\"9c220f200955d76c0a38d308225e0ef10c5f971acaf2f8d1d8f732affa5bd1dc\"",
        ],
        Kind::Bool => &["true", "false"],
        Kind::List => &[
            "[]",
            "[\"local\"]",
            "[\"local\", \"local\"]",
            "[\"us-east\"]",
        ],
    }
}

/// Tables (header, keys); the first is the top level (no header).
const TABLES: &[(&str, &[(&str, Kind)])] = &[
    (
        "",
        &[
            ("cluster_name", Kind::Text),
            ("initial_shards", Kind::Number),
            ("replication_factor", Kind::Number),
            ("default_region", Kind::Text),
            ("idempotency_ttl_secs", Kind::Number),
        ],
    ),
    (
        "[raft]",
        &[
            ("heartbeat_interval_ms", Kind::Number),
            ("election_timeout_min_ms", Kind::Number),
            ("election_timeout_max_ms", Kind::Number),
            ("snapshot_logs_since_last", Kind::Number),
            ("max_clock_offset_ms", Kind::Number),
        ],
    ),
    (
        "[placement.orders]",
        &[
            ("survival_goal", Kind::Text),
            ("voters", Kind::Number),
            ("min_regions", Kind::Number),
            ("leader_preference", Kind::List),
        ],
    ),
    (
        "[split]",
        &[("max_keys", Kind::Number), ("max_bytes", Kind::Number)],
    ),
    (
        "[security]",
        &[
            ("tls", Kind::Bool),
            ("ca_cert", Kind::Text),
            ("cert", Kind::Text),
            ("key", Kind::Text),
            ("auth", Kind::Bool),
            ("tokens_file", Kind::Text),
            ("audit_log", Kind::Text),
        ],
    ),
    (
        "[limits]",
        &[
            ("max_inflight_requests", Kind::Number),
            ("max_queued_requests", Kind::Number),
            ("queue_timeout_ms", Kind::Number),
            ("max_shard_proposals", Kind::Number),
            ("max_connections", Kind::Number),
            ("max_message_bytes", Kind::Number),
            ("retry_after_ms", Kind::Number),
        ],
    ),
    (
        "[[nodes]]",
        &[
            ("id", Kind::Number),
            ("grpc_addr", Kind::Text),
            ("status_addr", Kind::Text),
            ("region", Kind::Text),
            ("zone", Kind::Text),
            ("host", Kind::Text),
        ],
    ),
    (
        "[[tokens]]",
        &[
            ("name", Kind::Text),
            ("role", Kind::Text),
            ("sha256", Kind::Text),
        ],
    ),
];

/// `key = value` for one key: usually a value of its kind, sometimes of any kind.
fn key_line(key: &'static str, kind: Kind) -> impl Strategy<Value = String> {
    const KINDS: &[Kind] = &[Kind::Number, Kind::Text, Kind::Bool, Kind::List];
    prop_oneof![
        15 => select(values(kind)),
        1 => select(KINDS).prop_flat_map(|k| select(values(k))),
    ]
    .prop_map(move |value| format!("{key} = {value}"))
}

/// Index of `[[nodes]]` and `[[tokens]]` in [`TABLES`]; their first three keys are required.
const NODES: usize = 6;
const TOKEN_TABLE: usize = 7;

/// One table: its header and a random subset of its keys (each at most once; the required keys
/// of array tables usually present).
fn table(index: usize) -> impl Strategy<Value = String> {
    let (header, keys) = TABLES[index];
    let required = if index == NODES || index == TOKEN_TABLE {
        3
    } else {
        0
    };
    (
        proptest::sample::subsequence(keys[..required].to_vec(), 0..=required),
        Just(keys[..required].to_vec()),
        any::<u8>(),
        proptest::sample::subsequence(keys[required..].to_vec(), 0..=keys.len() - required),
    )
        .prop_flat_map(|(some, all, coin, optional)| {
            // One table in 16 misses some required key.
            let mut chosen = if coin % 16 == 0 { some } else { all };
            chosen.extend(optional);
            chosen
                .into_iter()
                .map(|(key, kind)| key_line(key, kind))
                .collect::<Vec<_>>()
        })
        .prop_map(move |lines| format!("{header}\n{}\n", lines.join("\n")))
}

/// Files shaped like configs: the top level, then distinct tables with their own keys and mostly
/// well-typed values, then up to four nodes, so random files reach the typed fields and the
/// validation rules. One file in eight also has a `[[tokens]]` table (an unknown key here).
fn shaped_config() -> impl Strategy<Value = String> {
    let indices: Vec<usize> = (1..NODES).collect();
    (
        table(0),
        proptest::sample::subsequence(indices, 0..NODES)
            .prop_flat_map(|picks| picks.into_iter().map(table).collect::<Vec<_>>()),
        proptest::collection::vec(table(NODES), 0..5),
        prop_oneof![7 => Just(String::new()), 1 => table(TOKEN_TABLE)],
    )
        .prop_map(|(top, tables, nodes, tokens)| {
            format!("{top}{}{}{tokens}", tables.concat(), nodes.concat())
        })
}

/// Files shaped like token files: a few `[[tokens]]` tables, rarely something else.
fn shaped_token_file() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(table(TOKEN_TABLE), 0..5),
        prop_oneof![7 => Just(String::new()), 1 => (0..TABLES.len()).prop_flat_map(table)],
    )
        .prop_map(|(tokens, other)| format!("{}{other}", tokens.concat()))
}

/// Characters that matter to TOML, for single-character mutations.
const SYNTAX_CHARS: &[char] = &[
    '"', '\'', '=', '[', ']', '{', '}', ',', '.', '#', '\n', ' ', '\\', '-', '+', '_', '0', '1',
    '9', 'a', 'e', 'z', ':',
];

fn toml_soup() -> impl Strategy<Value = String> {
    proptest::collection::vec(select(FRAGMENTS), 0..40).prop_map(|parts| parts.concat())
}

fn byte_soup() -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<u8>(), 0..512)
        .prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

/// Any text: arbitrary Unicode, lossy byte soup, a soup of TOML fragments, or a file shaped like
/// a config or a token file.
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        byte_soup(),
        toml_soup(),
        shaped_config(),
        shaped_token_file(),
    ]
}

/// One single-character edit; positions are taken modulo the text length.
#[derive(Debug, Clone)]
enum Edit {
    Insert(Index, char),
    Delete(Index),
    Replace(Index, char),
}

/// Characters that keep TOML well-formed more often (values and keys change, syntax stays).
const WORD_CHARS: &[char] = &['0', '1', '5', '9', 'a', 'd', 'e', 'n', 's', 'z', '-', '_'];

fn edit_char() -> impl Strategy<Value = char> {
    prop_oneof![2 => select(SYNTAX_CHARS), 3 => select(WORD_CHARS), 1 => any::<char>()]
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        (any::<Index>(), edit_char()).prop_map(|(at, c)| Edit::Insert(at, c)),
        any::<Index>().prop_map(Edit::Delete),
        (any::<Index>(), edit_char()).prop_map(|(at, c)| Edit::Replace(at, c)),
    ];
    proptest::collection::vec(edit, 1..3)
}

fn apply_edits(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for edit in edits {
        match *edit {
            Edit::Insert(at, c) => {
                let at = at.index(chars.len() + 1);
                chars.insert(at, c);
            }
            Edit::Delete(at) if !chars.is_empty() => {
                let at = at.index(chars.len());
                chars.remove(at);
            }
            Edit::Replace(at, c) if !chars.is_empty() => {
                let at = at.index(chars.len());
                chars[at] = c;
            }
            Edit::Delete(_) | Edit::Replace(..) => {}
        }
    }
    chars.into_iter().collect()
}

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

/// Valid configs of varied shape, as the text `to_toml_string` writes.
fn generated_valid_text() -> impl Strategy<Value = String> {
    (
        1u64..=5,
        any::<bool>(),
        any::<bool>(),
        65_536u32..=1 << 20,
        1u32..=10_000,
    )
        .prop_map(
            |(nodes, tls, auth, max_message_bytes, max_inflight_requests)| {
                let tls = tls || auth;
                let config = ClusterConfig {
                    nodes: (1..=nodes).map(node).collect(),
                    security: SecurityConfig {
                        tls,
                        ca_cert: if tls { "ca.pem".into() } else { String::new() },
                        cert: if tls {
                            "n-{node_id}.pem".into()
                        } else {
                            String::new()
                        },
                        key: if tls {
                            "n-{node_id}.key".into()
                        } else {
                            String::new()
                        },
                        auth,
                        tokens_file: if auth {
                            "tokens.toml".into()
                        } else {
                            String::new()
                        },
                        audit_log: "audit-{node_id}.log".into(),
                    },
                    limits: LimitsConfig {
                        max_message_bytes,
                        max_inflight_requests,
                        ..LimitsConfig::default()
                    },
                    ..ClusterConfig::default()
                };
                config.validate().expect("generated config is valid");
                config.to_toml_string().expect("serialisable")
            },
        )
}

/// A valid config file: a testdata file or a generated one.
fn valid_config_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(THREE_NODES.to_owned()),
        Just(SECURE.to_owned()),
        generated_valid_text(),
    ]
}

/// Everything a config that parsed must satisfy: validate answers without panicking, and the
/// config round-trips through its own TOML.
fn check_parsed_config(config: &ClusterConfig) -> Result<(), TestCaseError> {
    let _ = config.validate();
    let text = config
        .to_toml_string()
        .map_err(|e| TestCaseError::fail(format!("cannot serialise {config:?}: {e}")))?;
    let back = ClusterConfig::from_toml_str(&text)
        .map_err(|e| TestCaseError::fail(format!("own output does not parse: {e}\n{text}")))?;
    prop_assert_eq!(&back, config, "round trip of:\n{}", text);
    Ok(())
}

/// Everything a token store that parsed must satisfy: authentication and `Debug` do not panic,
/// and `Debug` shows no hash (the first 16 hex digits of any stored hash).
fn check_parsed_store(store: &TokenStore, text: &str) -> Result<(), TestCaseError> {
    let _ = store.authenticate("alice-token");
    let shown = format!("{store:?}").to_lowercase();
    let hash_like = text
        .split('"')
        .filter(|s| s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit()));
    for hash in hash_like {
        let prefix = hash[..16].to_lowercase();
        // A name may itself look like a hash (random text can put one there); names are shown.
        let is_name = store
            .principals()
            .any(|p| p.name.to_lowercase().contains(&prefix));
        prop_assert!(is_name || !shown.contains(&prefix), "{}", shown);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: TEXT_CASES, ..ProptestConfig::default() })]

    /// Any text is a config or a typed parse error, never a panic; what parses round-trips.
    #[test]
    fn any_text_config_never_panics(text in any_text()) {
        match ClusterConfig::from_toml_str(&text) {
            Ok(config) => check_parsed_config(&config)?,
            Err(ConfigError::Parse(message)) => prop_assert!(!message.is_empty()),
            Err(other) => prop_assert!(false, "unexpected error {:?}", other),
        }
    }

    /// Any text is a token store, a parse error or a token-file error, never a panic.
    #[test]
    fn any_text_token_file_never_panics(text in any_text()) {
        match TokenStore::from_toml_str(&text) {
            Ok(store) => check_parsed_store(&store, &text)?,
            Err(
                ConfigError::Parse(_)
                | ConfigError::BadTokenName(_)
                | ConfigError::TokenGrantsNode(_)
                | ConfigError::BadTokenHash(_)
                | ConfigError::DuplicateTokenName(_)
                | ConfigError::DuplicateTokenHash { .. },
            ) => {}
            Err(other) => prop_assert!(false, "unexpected error {:?}", other),
        }
    }

    /// A valid config with a few characters inserted, deleted or replaced parses or fails with a
    /// parse error; whenever it parses, validate does not panic and the result round-trips.
    #[test]
    fn mutated_config_never_panics(base in valid_config_text(), edits in edits()) {
        let text = apply_edits(&base, &edits);
        match ClusterConfig::from_toml_str(&text) {
            Ok(config) => check_parsed_config(&config)?,
            Err(ConfigError::Parse(_)) => {}
            Err(other) => prop_assert!(false, "unexpected error {:?}", other),
        }
    }

    /// A mutated token file parses or gives a typed error; a store that parses behaves.
    #[test]
    fn mutated_token_file_never_panics(edits in edits()) {
        let text = apply_edits(TOKENS, &edits);
        if let Ok(store) = TokenStore::from_toml_str(&text) {
            check_parsed_store(&store, &text)?;
        }
    }
}

/// Keys of an override map: known variables, unknown `ORDERSTORE_*` ones, anything.
fn env_key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(ENV_OVERRIDES).prop_map(|(var, _)| var.to_owned()),
        1 => "ORDERSTORE_[A-Z_]{0,24}",
        1 => any::<String>(),
    ]
}

/// Values of an override map: mostly near-valid (numbers, booleans, paths), some junk.
fn env_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{1,3}",
        "[0-9]{1,21}",
        "[ \t\n]?\\+?-?[0-9]{1,6}[ \t\n]?",
        select(&["true", "false", " true ", "TRUE", "1", "yes", "", "65536"][..])
            .prop_map(str::to_owned),
        "[a-z/{}_.-]{0,16}",
        any::<String>(),
    ]
}

/// The leaf key of `ENV_OVERRIDES` entry `key` in `config`, displayed.
fn field(config: &ClusterConfig, key: &str) -> String {
    let (raft, split, security, limits) = (
        &config.raft,
        &config.split,
        &config.security,
        &config.limits,
    );
    match key {
        "cluster_name" => config.cluster_name.clone(),
        "initial_shards" => config.initial_shards.to_string(),
        "replication_factor" => config.replication_factor.to_string(),
        "default_region" => config.default_region.clone(),
        "idempotency_ttl_secs" => config.idempotency_ttl_secs.to_string(),
        "raft.heartbeat_interval_ms" => raft.heartbeat_interval_ms.to_string(),
        "raft.election_timeout_min_ms" => raft.election_timeout_min_ms.to_string(),
        "raft.election_timeout_max_ms" => raft.election_timeout_max_ms.to_string(),
        "raft.snapshot_logs_since_last" => raft.snapshot_logs_since_last.to_string(),
        "raft.max_in_snapshot_log_to_keep" => raft.max_in_snapshot_log_to_keep.to_string(),
        "raft.max_clock_offset_ms" => raft.max_clock_offset_ms.to_string(),
        "split.max_keys" => split.max_keys.to_string(),
        "split.max_bytes" => split.max_bytes.to_string(),
        "split.max_requests_per_sec" => split.max_requests_per_sec.to_string(),
        "security.tls" => security.tls.to_string(),
        "security.ca_cert" => security.ca_cert.clone(),
        "security.cert" => security.cert.clone(),
        "security.key" => security.key.clone(),
        "security.auth" => security.auth.to_string(),
        "security.tokens_file" => security.tokens_file.clone(),
        "security.audit_log" => security.audit_log.clone(),
        "limits.max_inflight_requests" => limits.max_inflight_requests.to_string(),
        "limits.max_queued_requests" => limits.max_queued_requests.to_string(),
        "limits.queue_timeout_ms" => limits.queue_timeout_ms.to_string(),
        "limits.max_shard_proposals" => limits.max_shard_proposals.to_string(),
        "limits.max_connections" => limits.max_connections.to_string(),
        "limits.max_message_bytes" => limits.max_message_bytes.to_string(),
        "limits.retry_after_ms" => limits.retry_after_ms.to_string(),
        other => panic!("the fuzz test does not know override key {other}"),
    }
}

/// Keys whose overrides are taken verbatim (strings); the others are trimmed and parsed.
const STRING_KEYS: &[&str] = &[
    "cluster_name",
    "default_region",
    "security.ca_cert",
    "security.cert",
    "security.key",
    "security.tokens_file",
    "security.audit_log",
];

/// What `field` must show after `value` was applied to `key` successfully.
fn expected_field(key: &str, value: &str) -> String {
    if STRING_KEYS.contains(&key) {
        return value.to_owned();
    }
    let trimmed = value.trim();
    match trimmed.parse::<u128>() {
        Ok(number) => number.to_string(),
        Err(_) => trimmed.to_owned(), // a boolean: `true` or `false`
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// Any override map is applied whole or not at all: on success every known variable's last
    /// value is in its field (verbatim for strings, parsed for numbers and booleans) and nothing
    /// else changed; on error the error names a known variable of the map whose value alone is
    /// refused too, and the config is unchanged.
    #[test]
    fn env_overrides_are_all_or_nothing(
        pairs in proptest::collection::vec((env_key(), env_value()), 0..12),
    ) {
        let before = valid();
        let mut config = before.clone();
        let keys: HashMap<&str, &str> = ENV_OVERRIDES.iter().copied().collect();
        match config.apply_env_overrides(pairs.clone()) {
            Ok(()) => {
                let mut last: HashMap<&str, &str> = HashMap::new();
                for (var, value) in &pairs {
                    if let Some(key) = keys.get(var.as_str()) {
                        last.insert(key, value);
                    }
                }
                for (var, key) in ENV_OVERRIDES {
                    let shown = field(&config, key);
                    match last.get(key) {
                        Some(value) => prop_assert_eq!(
                            shown, expected_field(key, value), "{}={:?}", var, value
                        ),
                        None => prop_assert_eq!(shown, field(&before, key), "{} untouched", var),
                    }
                }
                let _ = config.validate();
                check_parsed_config(&config)?;
            }
            Err(ConfigError::Env { var, value, reason }) => {
                prop_assert_eq!(&config, &before, "nothing applied");
                prop_assert!(keys.contains_key(var.as_str()), "{} is not an override", var);
                prop_assert!(pairs.contains(&(var.clone(), value.clone())));
                prop_assert!(!reason.is_empty());
                let mut alone = before.clone();
                prop_assert!(alone.apply_env_overrides([(var, value)]).is_err());
                prop_assert_eq!(&alone, &before);
            }
            Err(other) => prop_assert!(false, "unexpected error {:?}", other),
        }
    }
}

fn token() -> impl Strategy<Value = String> {
    "[ -~]{1,40}"
}

fn token_role() -> impl Strategy<Value = Role> {
    select(&[Role::Reader, Role::Writer, Role::Admin][..])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// For random tokens and roles written to a token file, every stored token authenticates to
    /// its own principal, no other token authenticates, and `Debug` shows no token or hash.
    #[test]
    fn token_store_accepts_exactly_its_tokens(
        entries in proptest::collection::hash_map(token(), token_role(), 1..8),
        probes in proptest::collection::vec(token(), 0..16),
    ) {
        let entries: Vec<(String, Role)> = entries.into_iter().collect();
        let text: String = entries
            .iter()
            .enumerate()
            .map(|(i, (token, role))| {
                format!(
                    "[[tokens]]\nname = \"user-{i}\"\nrole = \"{role}\"\nsha256 = \"{}\"\n",
                    token_sha256_hex(token)
                )
            })
            .collect();
        let store = TokenStore::from_toml_str(&text).expect("generated token file parses");
        prop_assert_eq!(store.len(), entries.len());
        for (i, (token, role)) in entries.iter().enumerate() {
            prop_assert_eq!(
                store.authenticate(token),
                Some(Principal { name: format!("user-{i}"), role: *role })
            );
        }
        for probe in &probes {
            let stored = entries.iter().any(|(token, _)| token == probe);
            prop_assert_eq!(store.authenticate(probe).is_some(), stored, "{:?}", probe);
        }
        let shown = format!("{store:?}");
        for (token, _) in &entries {
            prop_assert!(!shown.contains(&token_sha256_hex(token)[..16]), "{}", shown);
        }
        check_parsed_store(&store, &text)?;
    }
}
