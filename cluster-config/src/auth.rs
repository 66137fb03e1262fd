//! Roles, principals and the bearer-token file: who a request comes from and what it may do.
//!
//! Tokens are never stored: the token file holds the SHA-256 of each token
//! ([`token_sha256_hex`]), and [`TokenStore::authenticate`] hashes the presented token and
//! compares it with every entry in constant time. Neither tokens nor their hashes are printed
//! (`TokenStore`'s `Debug` shows names and roles only) or carried in errors.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use crate::ConfigError;

/// Longest accepted token name.
pub const MAX_TOKEN_NAME_LEN: usize = 64;

/// What a principal may do. Each role includes the ones before it:
/// `Reader < Writer < Admin < Node` ([`Role::permits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads: Get, List, Watch and status calls.
    Reader,
    /// Reader, plus writes: placing and transitioning orders, stock and payment operations,
    /// purchases.
    Writer,
    /// Writer, plus admin operations: shard split and move, node lifecycle, saga retry and
    /// resolve, reconcile resolve, backup.
    Admin,
    /// Everything, including peer Raft traffic. Held only by cluster nodes, whose identity comes
    /// from their node certificates; a token file may not grant it.
    Node,
}

impl Role {
    /// Every role, weakest first.
    pub const ALL: [Role; 4] = [Role::Reader, Role::Writer, Role::Admin, Role::Node];

    /// Whether a principal with this role may make a call that requires `required`, i.e.
    /// `self >= required`.
    pub fn permits(self, required: Role) -> bool {
        self >= required
    }

    /// The lowercase name used in token files, certificates (OU) and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Writer => "writer",
            Role::Admin => "admin",
            Role::Node => "node",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Returned by [`Role::from_str`] for a name that is not exactly `reader`, `writer`, `admin` or
/// `node` (case-sensitive, no surrounding whitespace). Carries the rejected name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?} (expected reader, writer, admin or node)")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Role, UnknownRole> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// Who made a request: a token's name or a certificate's CN, and the role it holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal {
    /// The token name or certificate CN; appears in the audit log.
    pub name: String,
    /// What the principal may do.
    pub role: Role,
}

/// The lowercase hex SHA-256 of `token`: what a token file stores in `sha256`. The one hashing
/// function for tokens (`orderctl token create` prints the same value).
pub fn token_sha256_hex(token: &str) -> String {
    sha256(token)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn sha256(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The token file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenFile {
    #[serde(default)]
    tokens: Vec<TokenEntry>,
}

/// One `[[tokens]]` entry as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    name: String,
    role: Role,
    sha256: String,
}

/// One accepted token: its principal and the SHA-256 of the token.
struct StoredToken {
    principal: Principal,
    hash: [u8; 32],
}

/// The bearer tokens a node accepts, read from the token file:
///
/// ```toml
/// [[tokens]]
/// name = "alice"    # label, appears in the audit log
/// role = "admin"    # reader | writer | admin
/// sha256 = "<64 hex digits: SHA-256 of the token>"
/// ```
///
/// Holds hashes, never tokens; its `Debug` output lists names and roles only.
#[derive(Default)]
pub struct TokenStore {
    tokens: Vec<StoredToken>,
}

impl fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenStore")
            .field("tokens", &self.principals().collect::<Vec<_>>())
            .finish()
    }
}

impl TokenStore {
    /// Parses a token file. Checks every entry in file order: the name is 1 to 64 printable
    /// ASCII characters without spaces, the role is not `node`, `sha256` is 64 hex digits
    /// (either case), and neither the name nor the hash appeared in an earlier entry. An empty
    /// file is an empty store (which authenticates nobody).
    ///
    /// # Errors
    /// [`ConfigError::Parse`] for malformed TOML, a missing key, an unknown key or an unknown role;
    /// then per entry [`ConfigError::BadTokenName`], [`ConfigError::TokenGrantsNode`],
    /// [`ConfigError::BadTokenHash`], [`ConfigError::DuplicateTokenName`],
    /// [`ConfigError::DuplicateTokenHash`]. None of them carries a hash.
    pub fn from_toml_str(text: &str) -> Result<TokenStore, ConfigError> {
        let file: TokenFile =
            toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        let mut names = HashSet::new();
        let mut hashes = HashMap::new();
        let mut tokens = Vec::with_capacity(file.tokens.len());
        for entry in file.tokens {
            if !is_valid_token_name(&entry.name) {
                return Err(ConfigError::BadTokenName(entry.name));
            }
            if entry.role == Role::Node {
                return Err(ConfigError::TokenGrantsNode(entry.name));
            }
            let hash = decode_sha256_hex(&entry.sha256)
                .ok_or_else(|| ConfigError::BadTokenHash(entry.name.clone()))?;
            if !names.insert(entry.name.clone()) {
                return Err(ConfigError::DuplicateTokenName(entry.name));
            }
            if let Some(first) = hashes.insert(hash, entry.name.clone()) {
                return Err(ConfigError::DuplicateTokenHash {
                    first,
                    second: entry.name,
                });
            }
            tokens.push(StoredToken {
                principal: Principal {
                    name: entry.name,
                    role: entry.role,
                },
                hash,
            });
        }
        Ok(TokenStore { tokens })
    }

    /// Reads and parses the token file at `path` (see [`TokenStore::from_toml_str`]).
    ///
    /// # Errors
    /// [`ConfigError::Io`] if the file cannot be read; [`ConfigError::Parse`] (message prefixed
    /// with the path) if it does not parse; the entry errors of [`TokenStore::from_toml_str`].
    pub fn load(path: impl AsRef<Path>) -> Result<TokenStore, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        TokenStore::from_toml_str(&text).map_err(|e| match e {
            ConfigError::Parse(message) => {
                ConfigError::Parse(format!("{}: {message}", path.display()))
            }
            other => other,
        })
    }

    /// The principal whose token is `presented`, or `None` if no entry matches (or `presented`
    /// is empty).
    ///
    /// The presented token is hashed and compared with every entry's hash in constant time,
    /// without stopping at a match or a mismatch, so the time taken reveals neither the token
    /// nor which entry matched.
    pub fn authenticate(&self, presented: &str) -> Option<Principal> {
        if presented.is_empty() {
            return None;
        }
        let hash = sha256(presented);
        // 1 + index of the matching entry, 0 for none; hashes are unique, so at most one matches.
        let mut found = 0u64;
        for (index, token) in self.tokens.iter().enumerate() {
            let candidate = u64::try_from(index).map_or(u64::MAX, |i| i + 1);
            found.conditional_assign(&candidate, token.hash.ct_eq(&hash));
        }
        let index = usize::try_from(found.checked_sub(1)?).ok()?;
        self.tokens.get(index).map(|token| token.principal.clone())
    }

    /// The principals of the stored tokens, in file order.
    pub fn principals(&self) -> impl Iterator<Item = &Principal> {
        self.tokens.iter().map(|token| &token.principal)
    }

    /// Number of stored tokens.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether the store holds no tokens.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
}

/// Whether `name` is a token name: 1 to [`MAX_TOKEN_NAME_LEN`] printable ASCII characters, no
/// spaces (safe in logs and the audit log without quoting).
fn is_valid_token_name(name: &str) -> bool {
    (1..=MAX_TOKEN_NAME_LEN).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_graphic())
}

/// The 32 bytes spelled by 64 hex digits (either case), or `None`.
fn decode_sha256_hex(hex: &str) -> Option<[u8; 32]> {
    let digits = hex.as_bytes();
    if digits.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let high = char::from(pair[0]).to_digit(16)?;
        let low = char::from(pair[1]).to_digit(16)?;
        *byte = u8::try_from(high * 16 + low).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_decoding() {
        let hex = token_sha256_hex("secret");
        assert_eq!(hex.len(), 64);
        assert_eq!(decode_sha256_hex(&hex), Some(sha256("secret")));
        assert_eq!(
            decode_sha256_hex(&hex.to_uppercase()),
            Some(sha256("secret"))
        );
        for bad in [
            "",
            &hex[..63],
            &format!("{hex}0"),
            &format!("g{}", &hex[1..]),
        ] {
            assert_eq!(decode_sha256_hex(bad), None, "{bad:?}");
        }
        // A multi-byte character makes 64 bytes that are not 64 hex digits.
        let wide = format!("é{}", &hex[2..]);
        assert_eq!(wide.len(), 64);
        assert_eq!(decode_sha256_hex(&wide), None);
    }

    #[test]
    fn token_names() {
        for ok in ["alice", "ci-bot_2", "a", &"n".repeat(64), "x@y.z"] {
            assert!(is_valid_token_name(ok), "{ok:?}");
        }
        for bad in ["", "a b", "tab\t", "new\nline", "zé", &"n".repeat(65)] {
            assert!(!is_valid_token_name(bad), "{bad:?}");
        }
    }
}
