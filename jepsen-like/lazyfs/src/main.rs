//! `osj-lazyfs --backing DIR --mount MNT --control SOCK`: mounts a lazyfs and serves it until
//! SIGTERM/SIGINT (or until the mount goes away), then applies `--on-exit` and unmounts.
//! Exit codes: 0 clean exit, 1 setup failed, 101 a panic (the mount is detached first).

use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use osj_lazyfs::{Mounted, OnExit, control, detach, unmount_stale};

#[derive(Parser, Debug)]
#[command(
    version,
    about = "FUSE pass-through filesystem that keeps un-fsynced writes in memory (lazyfs-style)"
)]
struct Args {
    /// Existing directory holding the durable (fsynced) data.
    #[arg(long)]
    backing: PathBuf,
    /// Existing directory to mount on (a stale FUSE mount there is detached first).
    #[arg(long)]
    mount: PathBuf,
    /// Unix socket for the control protocol (`clear-cache`, `sync`, `stats`); replaced if it
    /// exists, removed at exit.
    #[arg(long)]
    control: PathBuf,
    /// Threads serving FUSE requests.
    #[arg(long, default_value_t = 4)]
    threads: usize,
    /// What to do with un-fsynced data on SIGTERM/SIGINT.
    #[arg(long, value_enum, default_value_t = OnExit::Sync)]
    on_exit: OnExit,
}

fn signal_set() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset initialise and fill the set we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        set
    }
}

/// Tears the mount down if any thread panics: a half-dead filesystem must not stay mounted.
fn install_panic_hook(mountpoint: PathBuf, control: PathBuf) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        previous(info);
        let _ = detach(&mountpoint);
        let _ = std::fs::remove_file(&control);
        std::process::exit(101);
    }));
}

fn run(args: &Args) -> Result<(), String> {
    // Block the exit signals in every thread (threads inherit the mask) so `sigwait` below
    // receives them.
    let signals = signal_set();
    // SAFETY: `signals` is an initialised set; the old mask is not needed.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &signals, std::ptr::null_mut()) };

    if unmount_stale(&args.mount).map_err(|e| format!("checking {}: {e}", args.mount.display()))? {
        eprintln!(
            "osj-lazyfs: detached a stale mount at {}",
            args.mount.display()
        );
    }
    let mounted = Mounted::start(&args.backing, &args.mount, args.threads, |result| {
        if let Err(e) = result {
            eprintln!("osj-lazyfs: FUSE session ended: {e}");
        }
        // The mount is gone (unmounted from outside, or we are exiting): wake `sigwait`.
        // SAFETY: signalling our own process.
        unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
    })
    .map_err(|e| {
        format!(
            "mounting {} over {}: {e}",
            args.mount.display(),
            args.backing.display()
        )
    })?;
    install_panic_hook(args.mount.clone(), args.control.clone());

    let fs = mounted.handle();
    let _ = std::fs::remove_file(&args.control);
    let listener = UnixListener::bind(&args.control)
        .map_err(|e| format!("binding control socket {}: {e}", args.control.display()))?;
    let control_fs = fs.clone();
    std::thread::Builder::new()
        .name("lazyfs-control".into())
        .spawn(move || {
            if let Err(e) = control::serve(listener, control_fs) {
                eprintln!("osj-lazyfs: control socket failed: {e}");
            }
        })
        .map_err(|e| format!("starting the control thread: {e}"))?;
    eprintln!(
        "osj-lazyfs: serving {} (backing {}, control {})",
        args.mount.display(),
        args.backing.display(),
        args.control.display()
    );

    let mut sig: libc::c_int = 0;
    // SAFETY: `signals` is initialised; `sig` receives the signal number.
    unsafe { libc::sigwait(&signals, &mut sig) };
    eprintln!("osj-lazyfs: signal {sig}, exiting ({:?})", args.on_exit);
    match args.on_exit {
        OnExit::Sync => match fs.sync_all() {
            Ok(r) => eprintln!("osj-lazyfs: synced {} bytes in {} files", r.bytes, r.files),
            Err(e) => eprintln!("osj-lazyfs: sync at exit failed: {e}"),
        },
        OnExit::Drop => {
            let r = fs.clear_cache();
            eprintln!("osj-lazyfs: dropped {} bytes in {} files", r.bytes, r.files);
        }
    }
    let _ = std::fs::remove_file(&args.control);
    mounted
        .unmount(Duration::from_secs(5))
        .map_err(|e| format!("unmounting {}: {e}", args.mount.display()))
}

fn main() -> ExitCode {
    let args = Args::parse();
    for (what, dir) in [("--backing", &args.backing), ("--mount", &args.mount)] {
        if !Path::new(dir).is_dir() && !osj_lazyfs::is_fuse_mount(dir).unwrap_or(false) {
            eprintln!("osj-lazyfs: {what} {} is not a directory", dir.display());
            return ExitCode::from(1);
        }
    }
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("osj-lazyfs: {e}");
            ExitCode::from(1)
        }
    }
}
