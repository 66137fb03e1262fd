//! `orderctl token create`: a random bearer token and its `[[tokens]]` entry for the cluster's
//! tokens file, which keeps only the token's SHA-256 (the server hashes what a client sends and
//! compares).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::path::PathBuf;

use rand::Rng;
use serde::Deserialize;
use serde::Serialize;
use sha2::Digest;
use sha2::Sha256;

use crate::cert::CredentialError;
use crate::cert::io_err;
use crate::cert::validate_name;
use crate::cert::write_file;
use crate::cli::OutputFormat;
use crate::cli::Role;
use crate::cli_error::CliError;
use crate::output;

/// Random bytes in a token (shown as 64 hex digits).
const TOKEN_BYTES: usize = 32;

/// First line of a tokens file `token create` starts.
const TOKENS_FILE_HEADER: &str =
    "# orderstore bearer tokens: one [[tokens]] entry per token, holding only its SHA-256.\n";

/// A fresh token. `token` is the secret; only `sha256` goes into the tokens file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewToken {
    pub name: String,
    pub role: Role,
    pub token: String,
    /// Lowercase hex SHA-256 of `token`'s bytes.
    pub sha256: String,
}

impl NewToken {
    /// A token of 32 random bytes from the thread's CSPRNG, hex-encoded, for principal `name`.
    /// Fails with [`CredentialError::BadName`] for a name the server could not log plainly.
    pub fn generate(name: &str, role: Role) -> Result<Self, CredentialError> {
        validate_name(name)?;
        let mut bytes = [0u8; TOKEN_BYTES];
        rand::rng().fill(&mut bytes[..]);
        let token = hex(&bytes);
        Ok(NewToken {
            name: name.to_string(),
            role,
            sha256: sha256_hex(&token),
            token,
        })
    }

    /// The `[[tokens]]` entry of the tokens file (names are validated, so need no quoting).
    pub fn entry(&self) -> String {
        format!(
            "[[tokens]]\nname = \"{}\"\nrole = \"{}\"\nsha256 = \"{}\"\n",
            self.name,
            self.role.as_str(),
            self.sha256
        )
    }
}

/// Lowercase hex SHA-256 of `token`'s UTF-8 bytes, as the tokens file stores it.
pub fn sha256_hex(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes a tokens file holding exactly `tokens`' entries, mode 0600, replacing any file at
/// `path`.
pub fn write_tokens_file(path: &Path, tokens: &[NewToken]) -> Result<(), CredentialError> {
    let mut text = TOKENS_FILE_HEADER.to_string();
    for t in tokens {
        text.push('\n');
        text.push_str(&t.entry());
    }
    write_file(path, text.as_bytes(), 0o600).map_err(io_err("write", path))
}

/// Only what the duplicate check needs of a tokens file; other keys are ignored.
#[derive(Deserialize)]
struct TokensFile {
    #[serde(default)]
    tokens: Vec<NamedEntry>,
}

#[derive(Deserialize)]
struct NamedEntry {
    name: String,
}

/// Appends `token`'s entry to the tokens file at `path`, creating it with mode 0600 when
/// missing. Fails, leaving the file unchanged, with [`CredentialError::DuplicateToken`] when an
/// entry of the same name exists and [`CredentialError::BadTokensFile`] when the file does not
/// parse.
pub fn append_entry(path: &Path, token: &NewToken) -> Result<(), CredentialError> {
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_err("read", path)(e)),
    };
    let Some(text) = existing else {
        return write_tokens_file(path, std::slice::from_ref(token));
    };
    let parsed: TokensFile = toml::from_str(&text).map_err(|e| CredentialError::BadTokensFile {
        path: path.to_path_buf(),
        message: e.message().to_string(),
    })?;
    if parsed.tokens.iter().any(|t| t.name == token.name) {
        return Err(CredentialError::DuplicateToken {
            name: token.name.clone(),
            path: path.to_path_buf(),
        });
    }
    let separator = if text.is_empty() || text.ends_with("\n\n") {
        ""
    } else if text.ends_with('\n') {
        "\n"
    } else {
        "\n\n"
    };
    let mut f = OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(io_err("open", path))?;
    f.write_all(format!("{separator}{}", token.entry()).as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(io_err("write", path))
}

/// `orderctl token create`.
pub fn create(
    name: &str,
    role: Role,
    tokens_file: Option<PathBuf>,
    format: OutputFormat,
) -> Result<(), CliError> {
    let token = NewToken::generate(name, role)?;
    if let Some(path) = &tokens_file {
        append_entry(path, &token)?;
    }
    match format {
        OutputFormat::Json => {
            #[derive(Serialize)]
            struct Created<'a> {
                #[serde(flatten)]
                token: &'a NewToken,
                tokens_file: Option<&'a PathBuf>,
                entry: String,
            }
            output::print_json(&Created {
                token: &token,
                tokens_file: tokens_file.as_ref(),
                entry: token.entry(),
            });
        }
        OutputFormat::Table => {
            println!(
                "token for {} (role {}); it is shown only this once, store it now:",
                token.name,
                token.role.as_str()
            );
            println!("  {}", token.token);
            match &tokens_file {
                Some(path) => println!("appended its entry to {}:", path.display()),
                None => {
                    println!("add this entry to the cluster's tokens file (security.tokens_file):")
                }
            }
            print!("{}", token.entry());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    /// Tokens are 64 hex digits, distinct, and the entry holds the SHA-256 of exactly the
    /// token's text (a known vector pins the encoding).
    #[test]
    fn tokens_are_random_and_hashed_as_sent() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let a = NewToken::generate("alice", Role::Admin).unwrap();
        let b = NewToken::generate("alice", Role::Admin).unwrap();
        assert_ne!(a.token, b.token);
        assert_eq!(a.token.len(), 64);
        assert!(a.token.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(a.sha256, sha256_hex(&a.token));
        assert_eq!(
            a.entry(),
            format!(
                "[[tokens]]\nname = \"alice\"\nrole = \"admin\"\nsha256 = \"{}\"\n",
                a.sha256
            )
        );
        assert!(!a.entry().contains(&a.token));
        assert!(matches!(
            NewToken::generate("bad name", Role::Reader),
            Err(CredentialError::BadName { .. })
        ));
    }

    /// The file is created private, entries accumulate as valid TOML, and a duplicate name is
    /// refused without touching the file.
    #[test]
    fn tokens_file_is_created_private_and_refuses_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.toml");
        let alice = NewToken::generate("alice", Role::Admin).unwrap();
        let bob = NewToken::generate("bob", Role::Reader).unwrap();
        append_entry(&path, &alice).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        append_entry(&path, &bob).unwrap();
        let before = std::fs::read_to_string(&path).unwrap();
        let err =
            append_entry(&path, &NewToken::generate("bob", Role::Admin).unwrap()).unwrap_err();
        assert!(
            matches!(err, CredentialError::DuplicateToken { .. }),
            "{err:?}"
        );
        assert!(err.is_usage());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), before);

        let parsed: toml::Table = toml::from_str(&before).unwrap();
        let tokens = parsed["tokens"].as_array().unwrap();
        assert_eq!(tokens.len(), 2);
        assert_eq!(tokens[1]["name"].as_str(), Some("bob"));
        assert_eq!(tokens[1]["role"].as_str(), Some("reader"));
        assert_eq!(tokens[1]["sha256"].as_str(), Some(bob.sha256.as_str()));

        std::fs::write(&path, "tokens = 3").unwrap();
        assert!(matches!(
            append_entry(&path, &alice),
            Err(CredentialError::BadTokensFile { .. })
        ));
    }
}
