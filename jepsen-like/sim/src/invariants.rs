//! Raft invariants checked after every step of the simulation, from the nodes' metrics, their
//! disks and the history of applied entries. (State machine safety and apply order are
//! checked at each apply, in [`crate::history`].)
//!
//! - **Election safety**: at most one leader per term, over the whole run.
//! - **Log matching**: for every pair of logs (live nodes and the durable remains of crashed
//!   ones), if both hold the same log id at an index, they hold identical entries at every
//!   lower index both still hold.
//! - **Leader completeness**: a leader of term `T` holds every entry applied anywhere whose
//!   committing leader's term is provably below `T` (or has it in its snapshot).

use std::collections::BTreeMap;

use openraft::ServerState;

use crate::cluster::Cluster;
use crate::disk::LogImage;
use crate::history::ViolationKind;
use crate::runtime::lock;
use crate::types::NodeId;

/// The stateful checker of one run.
#[derive(Debug, Default)]
pub struct Checker {
    /// The leader seen in each term.
    leaders: BTreeMap<u64, NodeId>,
    /// Steps checked.
    pub steps: u64,
}

impl Checker {
    /// Checks every invariant against the cluster's current state; violations go to the
    /// history.
    pub fn check(&mut self, cluster: &Cluster) {
        self.steps += 1;
        let world = &cluster.world;
        let now = world.now_ms();
        let metrics = cluster.metrics();
        let images: BTreeMap<NodeId, LogImage> = cluster.log_images().into_iter().collect();
        let mut found = Vec::new();

        let leaders: Vec<(NodeId, u64)> = metrics
            .iter()
            .filter(|(_, m)| m.state == ServerState::Leader)
            .map(|(id, m)| (*id, m.current_term))
            .collect();
        for &(id, term) in &leaders {
            match self.leaders.get(&term) {
                Some(&other) if other != id => found.push(ViolationKind::ElectionSafety {
                    term,
                    leaders: (other, id),
                }),
                Some(_) => {}
                None => {
                    self.leaders.insert(term, id);
                    world.event(format_args!("leader n{id} term={term}"));
                }
            }
        }

        let ids: Vec<NodeId> = images.keys().copied().collect();
        for (i, &a) in ids.iter().enumerate() {
            for &b in &ids[i + 1..] {
                if let Some((index, differs_at)) = log_mismatch(&images[&a], &images[&b]) {
                    found.push(ViolationKind::LogMatching {
                        nodes: (a, b),
                        index,
                        differs_at,
                    });
                }
            }
        }

        {
            let history = lock(&world.history);
            for &(leader, term) in &leaders {
                let image = &images[&leader];
                let from = image.purged_index().map_or(0, |p| p + 1);
                for (&index, c) in history.committed().range(from..) {
                    if c.term_bound >= term {
                        continue;
                    }
                    let holds = image
                        .entries
                        .get(&index)
                        .is_some_and(|(e, h)| e.log_id == c.log_id && *h == c.entry_hash);
                    if !holds {
                        found.push(ViolationKind::LeaderCompleteness {
                            leader,
                            term,
                            index,
                        });
                        break;
                    }
                }
            }
        }

        if !found.is_empty() {
            let mut history = lock(&world.history);
            for kind in found {
                if !history.violations().iter().any(|v| v.kind == kind) {
                    history.violation(now, kind);
                }
            }
        }
    }
}

/// `Some((index, differs_at))` when both logs hold the same log id at `index` (the highest
/// such) but differ at `differs_at <= index`.
pub fn log_mismatch(a: &LogImage, b: &LogImage) -> Option<(u64, u64)> {
    let (index, _) = a.entries.iter().rev().find(|(i, (ea, _))| {
        b.entries
            .get(i)
            .is_some_and(|(eb, _)| eb.log_id == ea.log_id)
    })?;
    for (j, (xa, ha)) in a.entries.range(..=*index).rev() {
        if let Some((xb, hb)) = b.entries.get(j)
            && (xa.log_id != xb.log_id || ha != hb)
        {
            return Some((*index, *j));
        }
    }
    None
}
