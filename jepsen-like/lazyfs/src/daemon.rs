//! [`Daemon`]: an `osj-lazyfs` process started and owned by the caller (the harness, the
//! tests), stopped and unmounted on drop.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::control::{Control, ControlError};
use crate::mount::{ReadyError, unmount_stale};

/// What the daemon does with cached data when it is told to exit (SIGTERM/SIGINT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OnExit {
    /// Write and fsync everything first, like a kernel unmounting a filesystem cleanly.
    #[default]
    Sync,
    /// Drop un-fsynced data (as if the machine lost power at exit).
    Drop,
}

impl OnExit {
    fn as_arg(self) -> &'static str {
        match self {
            OnExit::Sync => "sync",
            OnExit::Drop => "drop",
        }
    }
}

/// How to start an `osj-lazyfs` process.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// The `osj-lazyfs` binary.
    pub binary: PathBuf,
    /// Existing directory that holds the durable (fsynced) data.
    pub backing: PathBuf,
    /// Existing empty directory to mount on.
    pub mountpoint: PathBuf,
    /// Path of the control socket (created by the daemon, replaced if it exists).
    pub control: PathBuf,
    /// File for the daemon's stdout and stderr (`None`: inherit the caller's).
    pub log: Option<PathBuf>,
    /// See [`OnExit`].
    pub on_exit: OnExit,
}

/// A running `osj-lazyfs` process. Dropping it stops the process and removes the mount.
pub struct Daemon {
    child: Child,
    mountpoint: PathBuf,
    control: PathBuf,
}

impl Daemon {
    /// Removes a stale mount left at the mountpoint by a crashed run, then starts the daemon.
    /// Call [`Daemon::wait_ready`] before using the mount.
    pub fn spawn(config: &DaemonConfig) -> io::Result<Daemon> {
        unmount_stale(&config.mountpoint)?;
        let mut cmd = Command::new(&config.binary);
        cmd.arg("--backing")
            .arg(&config.backing)
            .arg("--mount")
            .arg(&config.mountpoint)
            .arg("--control")
            .arg(&config.control)
            .arg("--on-exit")
            .arg(config.on_exit.as_arg())
            .stdin(Stdio::null());
        if let Some(log) = &config.log {
            let file = File::create(log)?;
            cmd.stdout(file.try_clone()?).stderr(file);
        }
        Ok(Daemon {
            child: cmd.spawn()?,
            mountpoint: config.mountpoint.clone(),
            control: config.control.clone(),
        })
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The mountpoint this daemon serves.
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// Waits until the filesystem is mounted and the control socket answers, or the daemon
    /// exits, or `timeout` passes.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<(), ReadyError> {
        let child = &mut self.child;
        crate::mount::poll_ready(&self.mountpoint, &self.control, timeout, || {
            match child.try_wait()? {
                Some(status) => Err(ReadyError::Exited(status)),
                None => Ok(()),
            }
        })
    }

    /// A new connection to the daemon's control socket.
    pub fn control(&self) -> Result<Control, ControlError> {
        Control::connect(&self.control)
    }

    /// Asks the daemon to exit (SIGTERM: it applies its [`OnExit`] policy and unmounts), waits
    /// up to `timeout`, then SIGKILLs it and detaches the mount. Idempotent.
    pub fn stop(&mut self, timeout: Duration) -> io::Result<()> {
        if self.child.try_wait()?.is_none() {
            // SAFETY: kill(2) with our own child's pid, which has not been reaped yet (try_wait
            // returned None), so the pid cannot have been reused.
            unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
            let deadline = Instant::now() + timeout;
            while self.child.try_wait()?.is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if self.child.try_wait()?.is_none() {
                self.child.kill()?;
                self.child.wait()?;
            }
        }
        unmount_stale(&self.mountpoint)?;
        Ok(())
    }

    /// SIGKILLs the daemon (a crash of the filesystem process itself: every cached write is
    /// lost) and detaches its now dead mount.
    pub fn kill(&mut self) -> io::Result<()> {
        if self.child.try_wait()?.is_none() {
            self.child.kill()?;
            self.child.wait()?;
        }
        unmount_stale(&self.mountpoint)?;
        Ok(())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Err(e) = self.stop(Duration::from_secs(10)) {
            eprintln!(
                "osj-lazyfs: stopping the daemon on {} failed: {e}",
                self.mountpoint.display()
            );
        }
    }
}
