//! The pure per-file write cache: what a file looks like to readers versus what its backing file
//! holds, and the plan that makes the backing file match on `fsync`.
//!
//! No I/O happens here. The filesystem layer ([`crate::fs`]) feeds backing-file bytes in through
//! a closure and applies a [`FlushPlan`] itself, so this module is tested against a dumb
//! reference model (a `Vec<u8>`) with property tests.

use std::collections::BTreeMap;

/// The un-fsynced state of one regular file.
///
/// Model: the backing file holds bytes `B` (length `backing_len`). The logical content `C` that
/// readers see has length `size`; byte `i` of `C` is the cached extent byte if an extent covers
/// `i`, else `B[i]` if `i < min(backing_len, trunc)`, else zero.
///
/// Invariants (kept by every method):
/// - extents never overlap, never touch (adjacent writes are merged), and all end at or before
///   `size`;
/// - if `size < backing_len` then `trunc <= size` (bytes of `B` past a truncation never reappear
///   when the file grows again: they read as zeros, like a real truncate-then-extend);
/// - a clean cache has `size == backing_len`, no `trunc` and no extents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCache {
    backing_len: u64,
    size: u64,
    trunc: Option<u64>,
    extents: BTreeMap<u64, Vec<u8>>,
    dirty_bytes: u64,
}

/// What must be done to the backing file, in this order, to make it equal the logical content:
/// truncate to `truncate_to` (if any), write every extent at its offset, then set the length to
/// `final_len`. Produced by [`FileCache::flush_plan`]; after it was applied and synced, call
/// [`FileCache::mark_synced`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlushPlan<'a> {
    pub truncate_to: Option<u64>,
    pub extents: Vec<(u64, &'a [u8])>,
    pub final_len: u64,
}

impl FileCache {
    /// A clean cache over a backing file of `backing_len` bytes.
    pub fn new(backing_len: u64) -> Self {
        FileCache {
            backing_len,
            size: backing_len,
            trunc: None,
            extents: BTreeMap::new(),
            dirty_bytes: 0,
        }
    }

    /// The logical file size (what `stat` reports through the mount).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The length of the backing file as of the last sync (or open).
    pub fn backing_len(&self) -> u64 {
        self.backing_len
    }

    /// Bytes held in cached extents (not yet on the backing file).
    pub fn dirty_bytes(&self) -> u64 {
        self.dirty_bytes
    }

    /// True when the backing file differs from the logical content (data or length).
    pub fn is_dirty(&self) -> bool {
        !self.extents.is_empty() || self.trunc.is_some() || self.size != self.backing_len
    }

    /// Records a write of `data` at `offset`; the file grows if the write ends past its size.
    /// Newer data replaces older cached data where they overlap.
    pub fn write(&mut self, offset: u64, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let end = offset + data.len() as u64;
        // Every extent that overlaps or touches [offset, end) is merged into one.
        let touching: Vec<u64> = self
            .extents
            .range(..=end)
            .rev()
            .take_while(|(start, buf)| **start + buf.len() as u64 >= offset)
            .map(|(start, _)| *start)
            .collect();
        let mut merged_start = offset;
        let mut merged_end = end;
        for start in &touching {
            let len = self.extents[start].len() as u64;
            merged_start = merged_start.min(*start);
            merged_end = merged_end.max(start + len);
        }
        // Reuse the lowest extent's buffer when it starts the merged range (the append case:
        // amortised O(len) instead of copying the whole extent again).
        let mut merged = match touching.last() {
            Some(lowest) if *lowest == merged_start => self
                .extents
                .remove(lowest)
                .expect("key was just read from the map"),
            _ => Vec::new(),
        };
        self.dirty_bytes -= merged.len() as u64;
        merged.resize((merged_end - merged_start) as usize, 0);
        for start in &touching {
            if let Some(old) = self.extents.remove(start) {
                self.dirty_bytes -= old.len() as u64;
                let at = (start - merged_start) as usize;
                merged[at..at + old.len()].copy_from_slice(&old);
            }
        }
        let at = (offset - merged_start) as usize;
        merged[at..at + data.len()].copy_from_slice(data);
        self.dirty_bytes += merged.len() as u64;
        self.extents.insert(merged_start, merged);
        self.size = self.size.max(end);
    }

    /// Records a truncation (or extension with zeros) to `new_size`.
    pub fn set_size(&mut self, new_size: u64) {
        if new_size < self.size {
            // Drop cached bytes at or past the new end.
            let cut: Vec<u64> = self
                .extents
                .range(..)
                .rev()
                .take_while(|(start, buf)| **start + buf.len() as u64 > new_size)
                .map(|(start, _)| *start)
                .collect();
            for start in cut {
                let mut buf = self.extents.remove(&start).expect("key was just read");
                self.dirty_bytes -= buf.len() as u64;
                if start < new_size {
                    buf.truncate((new_size - start) as usize);
                    self.dirty_bytes += buf.len() as u64;
                    self.extents.insert(start, buf);
                }
            }
            if new_size < self.backing_len {
                self.trunc = Some(self.trunc.map_or(new_size, |t| t.min(new_size)));
            }
        }
        self.size = new_size;
    }

    /// Fills a read of up to `len` bytes at `offset` (short at end of file, empty past it).
    /// `read_backing(offset, buf)` must fill `buf` from the backing file at `offset`; it is only
    /// asked for bytes below `backing_len` that no truncation removed. A short backing read
    /// leaves zeros.
    pub fn read<E>(
        &self,
        offset: u64,
        len: u32,
        mut read_backing: impl FnMut(u64, &mut [u8]) -> Result<(), E>,
    ) -> Result<Vec<u8>, E> {
        if offset >= self.size {
            return Ok(Vec::new());
        }
        let end = self.size.min(offset + len as u64);
        let mut out = vec![0u8; (end - offset) as usize];
        let backing_end = end
            .min(self.backing_len)
            .min(self.trunc.unwrap_or(u64::MAX));
        if backing_end > offset {
            read_backing(offset, &mut out[..(backing_end - offset) as usize])?;
        }
        // Extents that start before `end`, newest-first order is irrelevant: they never overlap.
        let first = self
            .extents
            .range(..=offset)
            .next_back()
            .map_or(offset, |(start, _)| *start);
        for (start, buf) in self.extents.range(first..end) {
            let ext_end = start + buf.len() as u64;
            let lo = (*start).max(offset);
            let hi = ext_end.min(end);
            if lo < hi {
                out[(lo - offset) as usize..(hi - offset) as usize]
                    .copy_from_slice(&buf[(lo - start) as usize..(hi - start) as usize]);
            }
        }
        Ok(out)
    }

    /// What to do to the backing file so it equals the logical content. Empty work for a
    /// clean cache (`truncate_to: None`, no extents, `final_len == backing_len`).
    pub fn flush_plan(&self) -> FlushPlan<'_> {
        FlushPlan {
            truncate_to: self.trunc.filter(|t| *t < self.backing_len),
            extents: self
                .extents
                .iter()
                .map(|(start, buf)| (*start, buf.as_slice()))
                .collect(),
            final_len: self.size,
        }
    }

    /// The flush plan was applied and the backing file synced: the cache is clean. Returns the
    /// bytes that were cached.
    pub fn mark_synced(&mut self) -> u64 {
        let flushed = self.dirty_bytes;
        self.extents.clear();
        self.trunc = None;
        self.backing_len = self.size;
        self.dirty_bytes = 0;
        flushed
    }

    /// Drops every un-fsynced change (the power-loss case): the file is its backing file again.
    /// Returns the cached bytes dropped.
    pub fn clear(&mut self) -> u64 {
        let dropped = self.dirty_bytes;
        self.extents.clear();
        self.trunc = None;
        self.size = self.backing_len;
        self.dirty_bytes = 0;
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Reference model: the logical file and the backing file as plain byte vectors.
    #[derive(Debug, Clone)]
    struct Model {
        logical: Vec<u8>,
        backing: Vec<u8>,
    }

    #[derive(Debug, Clone)]
    enum Op {
        Write(u16, Vec<u8>),
        SetSize(u16),
        Sync,
        Clear,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u16..600, proptest::collection::vec(any::<u8>(), 0..80))
                .prop_map(|(o, d)| Op::Write(o, d)),
            1 => (0u16..700).prop_map(Op::SetSize),
            1 => Just(Op::Sync),
            1 => Just(Op::Clear),
        ]
    }

    fn read_all(cache: &FileCache, backing: &[u8]) -> Vec<u8> {
        cache
            .read::<()>(0, u32::MAX, |off, buf| {
                let off = off as usize;
                buf.copy_from_slice(&backing[off..off + buf.len()]);
                Ok(())
            })
            .expect("the model's backing read cannot fail")
    }

    /// Applies a flush plan to a byte vector the way `fs.rs` applies it to a file.
    fn apply(plan: &FlushPlan<'_>, backing: &mut Vec<u8>) {
        if let Some(t) = plan.truncate_to {
            backing.truncate(t as usize);
        }
        for (off, data) in &plan.extents {
            let end = *off as usize + data.len();
            if backing.len() < end {
                backing.resize(end, 0);
            }
            backing[*off as usize..end].copy_from_slice(data);
        }
        backing.resize(plan.final_len as usize, 0);
    }

    proptest! {
        /// Whatever the sequence of writes, truncations, syncs and clears: reads through the
        /// cache equal the model's logical file, a sync makes the backing file equal it, and a
        /// clear brings the logical file back to the backing file.
        #[test]
        fn cache_matches_reference_model(
            initial in proptest::collection::vec(any::<u8>(), 0..300),
            ops in proptest::collection::vec(op(), 0..40),
        ) {
            let mut model = Model { logical: initial.clone(), backing: initial.clone() };
            let mut cache = FileCache::new(initial.len() as u64);
            for op in ops {
                match op {
                    Op::Write(off, data) => {
                        let (off, end) = (off as usize, off as usize + data.len());
                        if !data.is_empty() {
                            if model.logical.len() < end {
                                model.logical.resize(end, 0);
                            }
                            model.logical[off..end].copy_from_slice(&data);
                        }
                        cache.write(off as u64, &data);
                    }
                    Op::SetSize(n) => {
                        model.logical.resize(n as usize, 0);
                        cache.set_size(n as u64);
                    }
                    Op::Sync => {
                        apply(&cache.flush_plan(), &mut model.backing);
                        cache.mark_synced();
                        prop_assert_eq!(&model.backing, &model.logical);
                        prop_assert!(!cache.is_dirty());
                    }
                    Op::Clear => {
                        cache.clear();
                        model.logical = model.backing.clone();
                        prop_assert!(!cache.is_dirty());
                    }
                }
                prop_assert_eq!(cache.size(), model.logical.len() as u64);
                prop_assert_eq!(read_all(&cache, &model.backing), model.logical.clone());
                let extent_bytes: u64 = cache.extents.values().map(|b| b.len() as u64).sum();
                prop_assert_eq!(cache.dirty_bytes(), extent_bytes);
            }
        }

        /// Partial reads at any offset are slices of the full read.
        #[test]
        fn partial_reads_are_slices(
            writes in proptest::collection::vec((0u16..400, proptest::collection::vec(any::<u8>(), 1..50)), 0..10),
            offset in 0u64..500,
            len in 0u32..200,
        ) {
            let backing = vec![7u8; 100];
            let mut cache = FileCache::new(100);
            for (off, data) in writes {
                cache.write(off as u64, &data);
            }
            let full = read_all(&cache, &backing);
            let part = cache
                .read::<()>(offset, len, |off, buf| {
                    buf.copy_from_slice(&backing[off as usize..off as usize + buf.len()]);
                    Ok(())
                })
                .expect("cannot fail");
            let lo = (offset as usize).min(full.len());
            let hi = (offset as usize + len as usize).min(full.len());
            prop_assert_eq!(part, full[lo..hi].to_vec());
        }
    }

    /// Appends (the WAL pattern) coalesce into a single extent.
    #[test]
    fn appends_coalesce() {
        let mut cache = FileCache::new(0);
        for i in 0..100u64 {
            cache.write(i * 10, &[i as u8; 10]);
        }
        assert_eq!(cache.extents.len(), 1);
        assert_eq!(cache.dirty_bytes(), 1000);
        assert_eq!(cache.size(), 1000);
    }
}
