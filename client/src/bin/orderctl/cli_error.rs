//! [`CliError`]: why an orderctl command failed, its one-line message and its exit code.

use std::process::ExitCode;

use orderstore_client::ClientError;
use orderstore_client::code_name;
use tonic::Code;

use crate::cert::CredentialError;
use crate::playground::PlaygroundError;

/// A failed command. `main` prints `error: <Display>` (one line) to stderr, then `detail()` if
/// any (e.g. the tail of a node's log), and exits with `exit_code()`.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The cluster refused or could not serve a request.
    #[error("{}", client_message(.0))]
    Client(#[from] ClientError),
    #[error(transparent)]
    Playground(#[from] PlaygroundError),
    /// `cert`, `token` or `playground up --secure` could not make or write credentials.
    #[error(transparent)]
    Credential(#[from] CredentialError),
    /// The demo saw something it must not (e.g. an illegal transition was accepted).
    #[error("demo check failed: {0}")]
    DemoCheck(String),
    /// `backup` could not write the backup or a shard arrived damaged.
    #[error(transparent)]
    Backup(orderstore_client::BackupError),
}

impl From<orderstore_client::BackupError> for CliError {
    fn from(e: orderstore_client::BackupError) -> Self {
        match e {
            orderstore_client::BackupError::Client(c) => CliError::Client(c),
            other => CliError::Backup(other),
        }
    }
}

impl CliError {
    /// The process exit code of this failure class (documented in `orderctl --help`).
    pub fn exit_code(&self) -> ExitCode {
        let code: u8 = match self {
            CliError::Client(e) => match e {
                ClientError::InvalidArgument { .. }
                | ClientError::InvalidEndpoint { .. }
                | ClientError::InvalidCredentials { .. } => 2,
                ClientError::NotFound { .. } => 3,
                ClientError::IllegalTransition { .. }
                | ClientError::VersionConflict { .. }
                | ClientError::AlreadyExists { .. }
                | ClientError::IdempotencyKeyReused { .. } => 4,
                ClientError::Unavailable { .. }
                | ClientError::Transport { .. }
                | ClientError::NotLeader { .. }
                | ClientError::WrongNode { .. }
                | ClientError::Overloaded { .. } => 5,
                ClientError::DataLoss { .. } => 6,
                ClientError::Unauthenticated { .. }
                | ClientError::PermissionDenied { .. }
                | ClientError::TlsHandshake { .. } => 8,
                // Inventory, payment and saga refusals (insufficient stock or funds, a saga not
                // parked or past its pivot, a concurrent saga change) reach the SDK with
                // detail kinds it does not type yet, so they arrive as `Other` with the code.
                ClientError::Other {
                    code: Code::FailedPrecondition | Code::Aborted,
                    ..
                } => 4,
                ClientError::MalformedReply { .. } | ClientError::Other { .. } => 1,
            },
            CliError::Playground(_) => 7,
            CliError::Credential(e) if e.is_usage() => 2,
            CliError::Credential(_) => 1,
            CliError::DemoCheck(_) => 1,
            CliError::Backup(orderstore_client::BackupError::NotEmpty(_)) => 2,
            CliError::Backup(_) => 1,
        };
        ExitCode::from(code)
    }

    /// Extra lines shown after the error line (a log tail), if any.
    pub fn detail(&self) -> Option<&str> {
        match self {
            CliError::Playground(p) => p.detail(),
            _ => None,
        }
    }
}

/// Server answers carry their gRPC code so scripts and humans see the class; client-side
/// outcomes (retries exhausted, bad endpoint) speak for themselves.
fn client_message(e: &ClientError) -> String {
    match e {
        ClientError::Unavailable { .. }
        | ClientError::Transport { .. }
        | ClientError::InvalidEndpoint { .. }
        | ClientError::InvalidCredentials { .. }
        | ClientError::TlsHandshake { .. }
        | ClientError::Overloaded { .. }
        | ClientError::MalformedReply { .. }
        | ClientError::Other { .. } => e.to_string(),
        _ => format!("{e} ({})", code_name(e.code())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_and_messages_by_class() {
        let e = CliError::from(ClientError::IllegalTransition {
            current_state: "CANCELLED".into(),
            message: "cannot SHIP order in state CANCELLED: cancelled".into(),
        });
        assert_eq!(
            e.to_string(),
            "cannot SHIP order in state CANCELLED: cancelled (FAILED_PRECONDITION)"
        );
        assert_eq!(e.exit_code(), ExitCode::from(4));
        let e = CliError::from(ClientError::NotFound {
            message: "order o_x not found".into(),
        });
        assert_eq!(e.exit_code(), ExitCode::from(3));
        let e = CliError::from(ClientError::Unavailable {
            message: "gave up".into(),
        });
        assert_eq!(e.to_string(), "unavailable: gave up");
        assert_eq!(e.exit_code(), ExitCode::from(5));
        let e = CliError::from(ClientError::Other {
            code: Code::FailedPrecondition,
            message: "saga o-1 is RUNNING, not NEEDS_ATTENTION".into(),
        });
        assert_eq!(
            e.to_string(),
            "saga o-1 is RUNNING, not NEEDS_ATTENTION (FAILED_PRECONDITION)"
        );
        assert_eq!(e.exit_code(), ExitCode::from(4));
        let e = CliError::from(ClientError::Other {
            code: Code::Aborted,
            message: "saga changed concurrently".into(),
        });
        assert_eq!(e.exit_code(), ExitCode::from(4));
        let e = CliError::from(ClientError::Other {
            code: Code::Internal,
            message: "boom".into(),
        });
        assert_eq!(e.exit_code(), ExitCode::from(1));
        let e = CliError::from(ClientError::PermissionDenied {
            message: "role reader may not call PlaceOrder".into(),
        });
        assert_eq!(
            e.to_string(),
            "role reader may not call PlaceOrder (PERMISSION_DENIED)"
        );
        assert_eq!(e.exit_code(), ExitCode::from(8));
        let e = CliError::from(ClientError::Unauthenticated {
            message: "unknown token".into(),
        });
        assert_eq!(e.to_string(), "unknown token (UNAUTHENTICATED)");
        assert_eq!(e.exit_code(), ExitCode::from(8));
        let e = CliError::from(ClientError::InvalidCredentials {
            message: "the token file t is empty".into(),
        });
        assert_eq!(e.exit_code(), ExitCode::from(2));
        let e = CliError::from(CredentialError::Exists {
            path: "d/ca.pem".into(),
        });
        assert_eq!(e.exit_code(), ExitCode::from(2));
    }
}
