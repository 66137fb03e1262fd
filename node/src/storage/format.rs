//! The data directory's format version: a small `FORMAT` file next to RocksDB's files, read
//! before the database is opened so that a node never touches a directory written by a newer
//! release (whose column families or record layouts it may not understand).
//!
//! Rules, as in etcd's and CockroachDB's version gates:
//! - a new directory gets [`FORMAT_VERSION`];
//! - a directory holding RocksDB files but no `FORMAT` file predates versioning and is format 1;
//! - a directory of an older format is opened as is (every format so far is readable; a future
//!   migration would run here and then rewrite the file);
//! - a directory of a newer format is refused with [`FormatError::Newer`], changing nothing.

use std::io;
use std::path::Path;
use std::path::PathBuf;

use serde::Deserialize;
use serde::Serialize;

/// The on-disk format this build writes. Raise it with any change old binaries cannot read
/// (a new column family, a changed record layout), and keep reading the older ones.
pub const FORMAT_VERSION: u32 = 1;

/// Name of the version file inside the data directory.
pub const FORMAT_FILE: &str = "FORMAT";

/// Contents of the `FORMAT` file (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormatStamp {
    /// On-disk format of the directory.
    pub format_version: u32,
    /// Release that last wrote the stamp (informational).
    pub written_by: String,
}

/// Why a data directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// Returned when the directory was written by a newer release; the node refuses to start
    /// and changes nothing. Run that release (or newer) on it.
    #[error(
        "data directory {dir} has on-disk format {found} (written by orderd {written_by}); this \
         orderd {ours} reads formats up to {supported}: run a release that supports format \
         {found}, or point --data-dir elsewhere"
    )]
    Newer {
        dir: PathBuf,
        found: u32,
        supported: u32,
        written_by: String,
        ours: &'static str,
    },
    /// Returned when the `FORMAT` file exists but does not parse (it is never rewritten then).
    #[error(
        "data directory {dir}: {FORMAT_FILE} is unreadable ({reason}); refusing to guess its format"
    )]
    Corrupt { dir: PathBuf, reason: String },
    #[error("data directory {dir}: {source}")]
    Io { dir: PathBuf, source: io::Error },
}

impl From<FormatError> for io::Error {
    fn from(e: FormatError) -> Self {
        let kind = match &e {
            FormatError::Io { source, .. } => source.kind(),
            FormatError::Newer { .. } | FormatError::Corrupt { .. } => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, e)
    }
}

/// Checks (and, for a new or pre-versioning directory, writes) the format stamp of `dir`,
/// returning the directory's format. Must run before RocksDB opens the directory.
///
/// # Errors
/// [`FormatError::Newer`] for a directory of a newer format, [`FormatError::Corrupt`] for an
/// unparsable stamp, [`FormatError::Io`] when the directory or the stamp cannot be read or
/// written. Nothing is written on error.
pub fn check_and_stamp(dir: &Path) -> Result<u32, FormatError> {
    let io_err = |source| FormatError::Io {
        dir: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io_err)?;
    let path = dir.join(FORMAT_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let stamp: FormatStamp =
                serde_json::from_slice(&bytes).map_err(|e| FormatError::Corrupt {
                    dir: dir.to_path_buf(),
                    reason: e.to_string(),
                })?;
            if stamp.format_version > FORMAT_VERSION {
                return Err(FormatError::Newer {
                    dir: dir.to_path_buf(),
                    found: stamp.format_version,
                    supported: FORMAT_VERSION,
                    written_by: stamp.written_by,
                    ours: env!("CARGO_PKG_VERSION"),
                });
            }
            Ok(stamp.format_version)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // A new directory, or one from before versioning (format 1 either way so far).
            write_stamp(dir, FORMAT_VERSION).map_err(io_err)?;
            Ok(FORMAT_VERSION)
        }
        Err(e) => Err(io_err(e)),
    }
}

/// Writes the stamp atomically (temp file, fsync, rename, fsync of the directory).
pub fn write_stamp(dir: &Path, version: u32) -> io::Result<()> {
    use std::io::Write as _;
    let stamp = FormatStamp {
        format_version: version,
        written_by: env!("CARGO_PKG_VERSION").to_owned(),
    };
    let tmp = dir.join(format!("{FORMAT_FILE}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        // Serialising a struct of a number and a string cannot fail.
        f.write_all(&serde_json::to_vec_pretty(&stamp).expect("stamp serialises"))?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(FORMAT_FILE))?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_directory_is_stamped_with_the_current_format() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("node");
        assert_eq!(check_and_stamp(&data).unwrap(), FORMAT_VERSION);
        let stamp: FormatStamp =
            serde_json::from_slice(&std::fs::read(data.join(FORMAT_FILE)).unwrap()).unwrap();
        assert_eq!(stamp.format_version, FORMAT_VERSION);
        // Idempotent.
        assert_eq!(check_and_stamp(&data).unwrap(), FORMAT_VERSION);
    }

    #[test]
    fn a_newer_format_is_refused_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        write_stamp(dir.path(), FORMAT_VERSION + 1).unwrap();
        let before = std::fs::read(dir.path().join(FORMAT_FILE)).unwrap();
        let err = check_and_stamp(dir.path()).unwrap_err();
        assert!(
            matches!(err, FormatError::Newer { found, supported, .. }
                if found == FORMAT_VERSION + 1 && supported == FORMAT_VERSION),
            "{err}"
        );
        assert!(err.to_string().contains("reads formats up to"), "{err}");
        assert_eq!(std::fs::read(dir.path().join(FORMAT_FILE)).unwrap(), before);
    }

    #[test]
    fn a_garbled_stamp_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FORMAT_FILE), b"{not json").unwrap();
        assert!(matches!(
            check_and_stamp(dir.path()),
            Err(FormatError::Corrupt { .. })
        ));
    }
}
