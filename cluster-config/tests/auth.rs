//! Scenario tests of roles and the bearer-token file: role order and names, the golden token file,
//! every token-file error, authentication, and that hashes never reach `Debug` or error output.

use cluster_config::{ConfigError, Principal, Role, TokenStore, UnknownRole, token_sha256_hex};

const TOKENS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/tokens.toml");

/// One `[[tokens]]` table.
fn entry(name: &str, role: &str, sha256: &str) -> String {
    format!("[[tokens]]\nname = {name:?}\nrole = {role:?}\nsha256 = {sha256:?}\n\n")
}

fn principal(name: &str, role: Role) -> Principal {
    Principal {
        name: name.into(),
        role,
    }
}

/// Roles are ordered reader < writer < admin < node, and a role permits exactly the calls that
/// require it or a weaker role.
#[test]
fn roles_are_ordered_and_permit_weaker_roles() {
    assert!(Role::Reader < Role::Writer && Role::Writer < Role::Admin && Role::Admin < Role::Node);
    for held in Role::ALL {
        for required in Role::ALL {
            assert_eq!(
                held.permits(required),
                held >= required,
                "{held} for {required}"
            );
        }
    }
    assert!(Role::Node.permits(Role::Admin));
    assert!(Role::Writer.permits(Role::Reader));
    assert!(!Role::Writer.permits(Role::Admin));
    assert!(!Role::Reader.permits(Role::Writer));
}

/// Names are lowercase both ways; anything else is a typed error carrying the name.
#[test]
fn role_names_round_trip() {
    for (role, name) in [
        (Role::Reader, "reader"),
        (Role::Writer, "writer"),
        (Role::Admin, "admin"),
        (Role::Node, "node"),
    ] {
        assert_eq!(role.to_string(), name);
        assert_eq!(role.as_str(), name);
        assert_eq!(name.parse::<Role>(), Ok(role));
    }
    for bad in ["", "Admin", "ADMIN", " admin", "admin ", "root", "nodes"] {
        assert_eq!(bad.parse::<Role>(), Err(UnknownRole(bad.to_owned())));
    }
    let err = "root".parse::<Role>().expect_err("unknown");
    assert!(err.to_string().contains("\"root\""), "{err}");
}

/// The golden token file parses; each token authenticates to its entry's principal (lowercase
/// and uppercase hashes alike); other tokens do not.
#[test]
fn golden_token_file_authenticates() {
    let store = TokenStore::load(TOKENS).expect("golden token file parses");
    assert_eq!(store.len(), 3);
    assert!(!store.is_empty());
    assert_eq!(
        store.principals().cloned().collect::<Vec<_>>(),
        vec![
            principal("alice", Role::Admin),
            principal("ci-bot", Role::Writer),
            principal("dashboard", Role::Reader),
        ]
    );
    assert_eq!(
        store.authenticate("alice-token"),
        Some(principal("alice", Role::Admin))
    );
    assert_eq!(
        store.authenticate("ci-token"),
        Some(principal("ci-bot", Role::Writer))
    );
    assert_eq!(
        store.authenticate("dash-token"),
        Some(principal("dashboard", Role::Reader)),
        "uppercase hex matches"
    );
    for wrong in [
        "",
        "alice",
        "alice-token ",
        "Alice-token",
        "alice-tokenx",
        // The stored hash itself is not a token.
        "9c220f200955d76c0a38d308225e0ef10c5f971acaf2f8d1d8f732affa5bd1dc",
    ] {
        assert_eq!(store.authenticate(wrong), None, "{wrong:?}");
    }
}

/// The one hashing function: lowercase hex SHA-256 (known vectors).
#[test]
fn token_hash_is_lowercase_hex_sha256() {
    assert_eq!(
        token_sha256_hex(""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        token_sha256_hex("abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        token_sha256_hex("alice-token"),
        "9c220f200955d76c0a38d308225e0ef10c5f971acaf2f8d1d8f732affa5bd1dc"
    );
}

/// An empty token file accepts nobody, not even an empty token whose hash were listed.
#[test]
fn empty_store_and_empty_token() {
    let store = TokenStore::from_toml_str("").expect("empty file is an empty store");
    assert!(store.is_empty());
    assert_eq!(store.authenticate("anything"), None);

    let empty_hash = TokenStore::from_toml_str(&entry("blank", "reader", &token_sha256_hex("")))
        .expect("parses");
    assert_eq!(
        empty_hash.authenticate(""),
        None,
        "empty tokens are refused"
    );
}

/// One row per token-file rule: the text, and the error it must give.
#[test]
fn each_token_file_rule_has_its_error() {
    let good = token_sha256_hex("a");
    let other = token_sha256_hex("b");
    type Check = fn(&ConfigError) -> bool;
    let cases: Vec<(&str, String, Check)> = vec![
        ("not toml", "[[tokens]\nname =".into(), |e| {
            matches!(e, ConfigError::Parse(_))
        }),
        (
            "unknown top-level key",
            format!("version = 1\n{}", entry("a", "admin", &good)),
            |e| matches!(e, ConfigError::Parse(m) if m.contains("version")),
        ),
        (
            "unknown entry key",
            format!("{}expires = 3\n", entry("a", "admin", &good)),
            |e| matches!(e, ConfigError::Parse(m) if m.contains("expires")),
        ),
        (
            "missing hash",
            "[[tokens]]\nname = \"a\"\nrole = \"admin\"\n".into(),
            |e| matches!(e, ConfigError::Parse(m) if m.contains("sha256")),
        ),
        (
            "missing role",
            format!("[[tokens]]\nname = \"a\"\nsha256 = {good:?}\n"),
            |e| matches!(e, ConfigError::Parse(m) if m.contains("role")),
        ),
        (
            "unknown role",
            entry("a", "root", &good),
            |e| matches!(e, ConfigError::Parse(m) if m.contains("root")),
        ),
        ("uppercase role", entry("a", "Admin", &good), |e| {
            matches!(e, ConfigError::Parse(_))
        }),
        ("tokens not an array of tables", "tokens = 3".into(), |e| {
            matches!(e, ConfigError::Parse(_))
        }),
        (
            "empty name",
            entry("", "reader", &good),
            |e| matches!(e, ConfigError::BadTokenName(n) if n.is_empty()),
        ),
        (
            "name with space",
            entry("alice smith", "reader", &good),
            |e| matches!(e, ConfigError::BadTokenName(n) if n == "alice smith"),
        ),
        (
            "name with newline",
            entry("alice\n", "reader", &good),
            |e| matches!(e, ConfigError::BadTokenName(_)),
        ),
        (
            "name too long",
            entry(&"n".repeat(65), "reader", &good),
            |e| matches!(e, ConfigError::BadTokenName(_)),
        ),
        ("non-ascii name", entry("zoë", "reader", &good), |e| {
            matches!(e, ConfigError::BadTokenName(_))
        }),
        (
            "node role",
            entry("peer", "node", &good),
            |e| matches!(e, ConfigError::TokenGrantsNode(n) if n == "peer"),
        ),
        (
            "short hash",
            entry("a", "reader", &good[..63]),
            |e| matches!(e, ConfigError::BadTokenHash(n) if n == "a"),
        ),
        (
            "long hash",
            entry("a", "reader", &format!("{good}0")),
            |e| matches!(e, ConfigError::BadTokenHash(_)),
        ),
        (
            "non-hex hash",
            entry("a", "reader", &format!("{}z", &good[..63])),
            |e| matches!(e, ConfigError::BadTokenHash(_)),
        ),
        (
            "hash with 0x prefix",
            entry("a", "reader", &format!("0x{}", &good[..62])),
            |e| matches!(e, ConfigError::BadTokenHash(_)),
        ),
        (
            "plain token instead of hash",
            entry("a", "reader", "correct-horse-battery-staple"),
            |e| matches!(e, ConfigError::BadTokenHash(_)),
        ),
        (
            "duplicate name",
            format!(
                "{}{}",
                entry("a", "reader", &good),
                entry("a", "admin", &other)
            ),
            |e| matches!(e, ConfigError::DuplicateTokenName(n) if n == "a"),
        ),
        (
            "duplicate hash",
            format!(
                "{}{}",
                entry("a", "reader", &good),
                entry("b", "admin", &good)
            ),
            |e| {
                matches!(e, ConfigError::DuplicateTokenHash { first, second }
                    if first == "a" && second == "b")
            },
        ),
        (
            "duplicate hash in another case",
            format!(
                "{}{}",
                entry("a", "reader", &good),
                entry("b", "admin", &good.to_uppercase())
            ),
            |e| matches!(e, ConfigError::DuplicateTokenHash { .. }),
        ),
    ];
    for (name, text, check) in cases {
        match TokenStore::from_toml_str(&text) {
            Err(err) => {
                assert!(check(&err), "case {name}: unexpected error {err:?}");
                // Errors name entries, never hashes.
                let shown = format!("{err} {err:?}");
                for hash in [&good, &other] {
                    assert!(
                        !shown.contains(&hash[..16]),
                        "case {name}: error shows a hash: {shown}"
                    );
                }
            }
            Ok(store) => panic!("case {name}: parsed as {store:?}"),
        }
    }
}

/// `Debug` of a store shows names and roles, never hashes.
#[test]
fn debug_hides_hashes() {
    let text = std::fs::read_to_string(TOKENS).expect("golden file readable");
    let store = TokenStore::from_toml_str(&text).expect("parses");
    let shown = format!("{store:?} {store:#?}");
    for name in ["alice", "ci-bot", "dashboard", "Admin", "Writer", "Reader"] {
        assert!(shown.contains(name), "{name} missing from {shown}");
    }
    for token in ["alice-token", "ci-token", "dash-token"] {
        let hash = token_sha256_hex(token);
        assert!(!shown.contains(token), "{shown}");
        assert!(!shown.to_lowercase().contains(&hash[..8]), "{shown}");
    }
}

/// Loading reports a missing file as Io and bad content with the path in the message.
#[test]
fn load_reports_missing_file_and_bad_content() {
    let missing = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/no-tokens.toml");
    match TokenStore::load(missing) {
        Err(ConfigError::Io { path, source }) => {
            assert!(path.ends_with("no-tokens.toml"));
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected Io error, got {other:?}"),
    }
    // A cluster config is not a token file (unknown keys).
    let cluster = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/three-nodes.toml");
    let err = TokenStore::load(cluster).expect_err("not a token file");
    assert!(
        matches!(&err, ConfigError::Parse(m) if m.contains("three-nodes.toml")),
        "{err}"
    );
}
