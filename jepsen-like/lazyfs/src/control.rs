//! The control socket: a unix stream socket speaking one-line commands, and [`Control`], the
//! client the chaos harness calls.
//!
//! # Protocol
//!
//! A client connects and sends commands, one per line (`\n`; surrounding whitespace ignored).
//! The server answers each with exactly one line, in order, then waits for the next command;
//! the client may close at any time.
//!
//! | command | reply |
//! |---|---|
//! | `clear-cache` | `ok files=N bytes=N`: files that had un-fsynced changes, cached bytes dropped |
//! | `sync` | `ok files=N bytes=N`: files written and fsynced, cached bytes written |
//! | `stats` | `ok cached_bytes=N dirty_files=N inodes=N fsyncs=N fsyncdirs=N written_bytes=N synced_bytes=N dropped_bytes=N clears=N failed_fsyncs=N` |
//! | `fail-fsync` | `ok failing=1`: from now on every fsync fails with EIO and syncs nothing |
//! | `heal-fsync` | `ok failing=0`: fsyncs work again |
//! | anything else | `err unknown command "..."` |
//!
//! A failing `sync` answers `err sync failed: <io error>`. Replies may gain fields; clients
//! must ignore fields they do not know.

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::Duration;

use crate::fs::FsHandle;
use crate::stats::{ClearReport, MissingField, Stats, SyncReport, parse_fields};

/// A command of the control protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Drop every un-fsynced write.
    ClearCache,
    /// Write and fsync every cached change.
    Sync,
    /// Report counters.
    Stats,
    /// Make every later fsync fail with EIO (a failing disk).
    FailFsync,
    /// Let fsyncs work again.
    HealFsync,
}

impl Command {
    /// Every command.
    pub const ALL: [Command; 5] = [
        Command::ClearCache,
        Command::Sync,
        Command::Stats,
        Command::FailFsync,
        Command::HealFsync,
    ];

    /// The command's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Command::ClearCache => "clear-cache",
            Command::Sync => "sync",
            Command::Stats => "stats",
            Command::FailFsync => "fail-fsync",
            Command::HealFsync => "heal-fsync",
        }
    }

    /// Parses one request line.
    pub fn parse(line: &str) -> Option<Command> {
        Command::ALL.into_iter().find(|c| c.as_str() == line.trim())
    }
}

/// Executes one request line against the filesystem; returns the reply line (no newline).
pub fn execute(fs: &FsHandle, line: &str) -> String {
    match Command::parse(line) {
        Some(Command::ClearCache) => format!("ok {}", fs.clear_cache().to_fields()),
        Some(Command::Sync) => match fs.sync_all() {
            Ok(report) => format!("ok {}", report.to_fields()),
            Err(e) => format!("err sync failed: {e}"),
        },
        Some(Command::Stats) => format!("ok {}", fs.stats().to_fields()),
        Some(c @ (Command::FailFsync | Command::HealFsync)) => {
            fs.set_fail_fsync(c == Command::FailFsync);
            format!("ok failing={}", u8::from(fs.fails_fsync()))
        }
        None => format!("err unknown command {:?}", line.trim()),
    }
}

/// Serves the control protocol on `listener` until accepting fails (the process exits to stop
/// it). Connections are served one at a time, each until the client closes it.
pub fn serve(listener: UnixListener, fs: FsHandle) -> io::Result<()> {
    loop {
        let (stream, _) = listener.accept()?;
        if let Err(e) = serve_connection(stream, &fs) {
            eprintln!("osj-lazyfs: control connection failed: {e}");
        }
    }
}

fn serve_connection(stream: UnixStream, fs: &FsHandle) -> io::Result<()> {
    // A client that stops reading must not wedge the control plane forever.
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut writer = stream.try_clone()?;
    for line in BufReader::new(stream).lines() {
        let reply = execute(fs, &line?);
        writer.write_all(format!("{reply}\n").as_bytes())?;
    }
    Ok(())
}

/// Errors of the [`Control`] client.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Returned when the socket cannot be reached or the connection fails (no server at that
    /// path, the server died, the reply timed out).
    #[error("control socket: {0}")]
    Io(#[from] io::Error),
    /// Returned when the server answered `err ...` (e.g. `sync` failed to write a file).
    #[error("lazyfs refused: {0}")]
    Refused(String),
    /// Returned when the reply is not `ok ...` with the expected fields (a protocol mismatch).
    #[error("malformed reply {reply:?}: {source}")]
    Malformed { reply: String, source: MissingField },
}

/// A connection to a running `osj-lazyfs` control socket.
///
/// ```no_run
/// # fn main() -> Result<(), osj_lazyfs::ControlError> {
/// let mut control = osj_lazyfs::Control::connect("/run/osj/lazyfs-n1.sock")?;
/// let dropped = control.clear_cache()?;
/// println!("dropped {} bytes in {} files", dropped.bytes, dropped.files);
/// # Ok(()) }
/// ```
pub struct Control {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Control {
    /// How long one request may take. `sync` of a large cache is the slow one.
    pub const TIMEOUT: Duration = Duration::from_secs(60);

    /// Connects to the control socket at `path`.
    pub fn connect(path: impl AsRef<Path>) -> Result<Control, ControlError> {
        let stream = UnixStream::connect(path)?;
        stream.set_read_timeout(Some(Self::TIMEOUT))?;
        stream.set_write_timeout(Some(Self::TIMEOUT))?;
        Ok(Control {
            writer: stream.try_clone()?,
            reader: BufReader::new(stream),
        })
    }

    /// Drops every un-fsynced write (power loss). See [`FsHandle::clear_cache`].
    pub fn clear_cache(&mut self) -> Result<ClearReport, ControlError> {
        let (reply, fields) = self.request(Command::ClearCache)?;
        ClearReport::from_fields(&fields)
            .map_err(|source| ControlError::Malformed { reply, source })
    }

    /// Writes and fsyncs every cached change (clean shutdown). See [`FsHandle::sync_all`].
    pub fn sync(&mut self) -> Result<SyncReport, ControlError> {
        let (reply, fields) = self.request(Command::Sync)?;
        SyncReport::from_fields(&fields).map_err(|source| ControlError::Malformed { reply, source })
    }

    /// Makes every later fsync fail with EIO (`true`) or work again (`false`); returns whether
    /// syncs now fail. See [`FsHandle::set_fail_fsync`].
    pub fn fail_fsync(&mut self, fail: bool) -> Result<bool, ControlError> {
        let command = if fail {
            Command::FailFsync
        } else {
            Command::HealFsync
        };
        let (reply, fields) = self.request(command)?;
        match fields.get("failing").map(String::as_str) {
            Some("1") => Ok(true),
            Some("0") => Ok(false),
            _ => Err(ControlError::Malformed {
                reply,
                source: MissingField("failing"),
            }),
        }
    }

    /// Current counters. See [`FsHandle::stats`].
    pub fn stats(&mut self) -> Result<Stats, ControlError> {
        let (reply, fields) = self.request(Command::Stats)?;
        Stats::from_fields(&fields).map_err(|source| ControlError::Malformed { reply, source })
    }

    fn request(
        &mut self,
        command: Command,
    ) -> Result<(String, crate::stats::Fields), ControlError> {
        self.writer
            .write_all(format!("{}\n", command.as_str()).as_bytes())?;
        let mut reply = String::new();
        if self.reader.read_line(&mut reply)? == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
        }
        let reply = reply.trim_end().to_string();
        if let Some(body) = reply.strip_prefix("ok") {
            let fields = parse_fields(body);
            Ok((reply, fields))
        } else if let Some(msg) = reply.strip_prefix("err ") {
            Err(ControlError::Refused(msg.to_string()))
        } else {
            Err(ControlError::Refused(format!("unexpected reply {reply:?}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_from_their_wire_names() {
        for c in Command::ALL {
            assert_eq!(Command::parse(&format!(" {}\r\n", c.as_str())), Some(c));
        }
        assert_eq!(Command::parse("clear"), None);
    }
}
