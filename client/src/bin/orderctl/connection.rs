//! From the global connection flags (`--ca-cert`, `--cert`, `--key`, `--token`,
//! `--token-file`) to SDK settings: one place, so every command connects the same way.

use std::path::Path;

use orderstore_client::Client;
use orderstore_client::ClientBuilder;
use orderstore_client::ClientError;
use orderstore_client::TlsOptions;

use crate::cli::ConnectionArgs;

impl ConnectionArgs {
    /// A client builder for `endpoints`: TLS with `--ca-cert` (and `--cert`/`--key` when
    /// given), and the bearer token of `--token` or `--token-file`.
    ///
    /// Fails with [`ClientError::InvalidCredentials`] when a file cannot be read or holds no
    /// usable PEM or token; the message names the file, never the token.
    pub fn builder(&self, endpoints: &[String]) -> Result<ClientBuilder, ClientError> {
        let mut b = Client::builder().endpoints(endpoints);
        if let Some(ca) = &self.ca_cert {
            b = b.tls(TlsOptions::from_files(
                ca,
                self.cert.as_deref(),
                self.key.as_deref(),
            )?);
        }
        let token = match (&self.token, &self.token_file) {
            (Some(t), _) => Some(t.0.clone()),
            (None, Some(path)) => Some(read_token_file(path)?),
            (None, None) => None,
        };
        if let Some(t) = token {
            b = b.bearer_token(t);
        }
        Ok(b)
    }
}

/// The token in `path`, without surrounding whitespace. Fails with
/// [`ClientError::InvalidCredentials`] when the file cannot be read or is empty.
pub fn read_token_file(path: &Path) -> Result<String, ClientError> {
    let text = std::fs::read_to_string(path).map_err(|e| ClientError::InvalidCredentials {
        message: format!("cannot read the token file {}: {e}", path.display()),
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(ClientError::InvalidCredentials {
            message: format!("the token file {} is empty", path.display()),
        });
    }
    Ok(token.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Secret;

    /// No flags: a plaintext client; a token file is read and trimmed; a bad token file is a
    /// typed error that does not quote its content.
    #[test]
    fn flags_become_client_settings() {
        let endpoints = ["127.0.0.1:7001".to_string()];
        assert!(ConnectionArgs::default().builder(&endpoints).is_ok());

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("admin.token");
        std::fs::write(&file, "tok-abc123\n").unwrap();
        assert_eq!(read_token_file(&file).unwrap(), "tok-abc123");
        let args = ConnectionArgs {
            token_file: Some(file.clone()),
            ..Default::default()
        };
        let b = args.builder(&endpoints).unwrap();
        assert!(!format!("{b:?}").contains("tok-abc123"));

        std::fs::write(&file, "two words\n").unwrap();
        let args = ConnectionArgs {
            token_file: Some(file.clone()),
            ..Default::default()
        };
        let err = args.builder(&endpoints).unwrap().build().unwrap_err();
        assert!(
            matches!(err, ClientError::InvalidCredentials { .. }),
            "{err:?}"
        );
        assert!(!err.to_string().contains("two words"), "{err}");

        std::fs::write(&file, " \n").unwrap();
        assert!(matches!(
            read_token_file(&file),
            Err(ClientError::InvalidCredentials { .. })
        ));
        let args = ConnectionArgs {
            ca_cert: Some(dir.path().join("missing.pem")),
            token: Some(Secret("t".into())),
            ..Default::default()
        };
        assert!(matches!(
            args.builder(&endpoints),
            Err(ClientError::InvalidCredentials { .. })
        ));
    }
}
