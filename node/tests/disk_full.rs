//! Disk full: a cluster whose data directories share a small tmpfs stops accepting writes with
//! a clear RESOURCE_EXHAUSTED (`DISK_FULL`) error and a metric when free space drops below the
//! reserve, keeps serving reads, acknowledges nothing it did not write, and accepts writes
//! again once space is freed.
//!
//! Needs root (it mounts a tmpfs), as CI has.

mod common;

use std::io::Write as _;
use std::path::Path;
use std::path::PathBuf;
use std::process::Command;

use common::*;

/// Size of the test file system and the nodes' reserve.
const FS_MIB: u64 = 768;
const RESERVE_MIB: u64 = 192;

/// A tmpfs mounted for the test; unmounted (lazily, in case a straggler holds a file) on drop.
struct TmpfsMount {
    dir: tempfile::TempDir,
}

impl TmpfsMount {
    fn new(size_mib: u64) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mib}m"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mounting a tmpfs failed (this test needs root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TmpfsMount {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

fn free_bytes(path: &Path) -> u64 {
    let st = nix::sys::statvfs::statvfs(path).expect("statvfs");
    st.blocks_available() as u64 * st.fragment_size() as u64
}

/// Fills the file system at `dir` until `leave` bytes are free (writes real pages: tmpfs
/// does not count sparse files).
fn write_ballast(dir: &Path, leave: u64) -> PathBuf {
    let path = dir.join("ballast");
    let mut f = std::fs::File::create(&path).expect("ballast");
    let chunk = vec![0xA5u8; 1 << 20];
    while free_bytes(dir) > leave + chunk.len() as u64 {
        f.write_all(&chunk).expect("write ballast");
    }
    f.sync_all().expect("sync ballast");
    path
}

async fn metric(cluster: &TestCluster, node: u64, name: &str) -> Option<f64> {
    let (_, body) = try_http_get(&cluster.status_addr(node), "/metrics").await?;
    body.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_disk_refuses_writes_until_space_returns() {
    let fs = TmpfsMount::new(FS_MIB);
    let cluster = TestCluster::start(Spec {
        shards: 2,
        data_root: Some(fs.path().to_path_buf()),
        disk_reserve_bytes: Some(RESERVE_MIB << 20),
        ..Spec::default()
    })
    .await;

    // Phase 1: writes work while there is room.
    let before = place(&cluster, "dora", "disk-before").await;

    // Phase 2: fill the file system to half the reserve.
    let ballast = write_ballast(fs.path(), (RESERVE_MIB << 20) / 2);
    let refused = eventually("writes are refused as DISK_FULL", || async {
        let r = call_cluster(&cluster, |mut c| async move {
            c.place_order(place_req("dora", "disk-during")).await
        })
        .await;
        match r {
            Err(s) if s.code() == tonic::Code::ResourceExhausted => Some(s),
            // Before every node measured the new free space a write may still succeed: that
            // is fine (it is durable); use a fresh key for the next try.
            _ => None,
        }
    })
    .await;
    assert_eq!(detail(&refused).kind, "DISK_FULL", "{refused:?}");
    assert!(
        refused.message().contains("disk full"),
        "{}",
        refused.message()
    );
    assert!(
        refused.metadata().get("retry-after-ms").is_some(),
        "a refusal carries the retry hint"
    );
    for id in cluster.live_nodes() {
        eventually("the disk_full metric is set", || async {
            (metric(&cluster, id, "orderstore_disk_full").await? == 1.0).then_some(())
        })
        .await;
    }
    // Reads still work.
    let read = get(&cluster, &before.order_id)
        .await
        .expect("read while full");
    assert_eq!(read, before);

    // Phase 3: free the space; the refused request now goes through (the same key).
    std::fs::remove_file(&ballast).expect("remove ballast");
    let placed = eventually("writes resume", || async {
        call_cluster(&cluster, |mut c| async move {
            c.place_order(place_req("dora", "disk-during")).await
        })
        .await
        .ok()
    })
    .await;
    let placed = placed.order.expect("order in reply");
    for id in cluster.live_nodes() {
        eventually("the disk_full metric is cleared", || async {
            (metric(&cluster, id, "orderstore_disk_full").await? == 0.0).then_some(())
        })
        .await;
    }
    // Everything acknowledged is there, exactly once.
    assert_eq!(get(&cluster, &placed.order_id).await.unwrap(), placed);
    assert_eq!(get(&cluster, &before.order_id).await.unwrap(), before);
    let again = call_cluster(&cluster, |mut c| async move {
        c.place_order(place_req("dora", "disk-during")).await
    })
    .await
    .expect("replay");
    assert_eq!(again.order.unwrap().order_id, placed.order_id);
    drop(cluster);
}
