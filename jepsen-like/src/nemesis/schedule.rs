//! The fault schedule: a pure function of (seed, nemesis kinds, nodes, timing) to a list of
//! fault windows, so a seed replays the same faults. Targets that depend on the live cluster
//! (the leader of a shard) are kept symbolic (`pick`, an index into the shard list) and
//! resolved when the fault starts.
//!
//! Shape: a quiet start, then windows one after another (never overlapping, so each window is
//! attributable): a fault of a randomly chosen kind for 3-8 s, a gap of 2-5 s, until the time
//! limit. The final heal is not part of the schedule: the runner heals everything after it.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::Rng;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::seq::SliceRandom;
use serde::Serialize;

use super::partition;
use super::partition::Grudge;
use crate::netns::NodeId;

/// A family of faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NemesisKind {
    /// Network partitions with iptables DROP rules inside the node namespaces.
    Partition,
    /// SIGKILL, then restart at the end of the window.
    Kill,
    /// SIGSTOP, then SIGCONT at the end of the window.
    Pause,
    /// Random inbound packet loss (`iptables -m statistic`).
    Loss,
    /// Restart a node under a wall-clock offset (libfaketime), restart it without at the end.
    Clock,
    /// `ClusterAdmin.TransferLeader` of shards, about once a second during the window.
    LeaderTransfer,
}

impl NemesisKind {
    pub const ALL: [NemesisKind; 6] = [
        NemesisKind::Partition,
        NemesisKind::Kill,
        NemesisKind::Pause,
        NemesisKind::Loss,
        NemesisKind::Clock,
        NemesisKind::LeaderTransfer,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            NemesisKind::Partition => "partition",
            NemesisKind::Kill => "kill",
            NemesisKind::Pause => "pause",
            NemesisKind::Loss => "loss",
            NemesisKind::Clock => "clock",
            NemesisKind::LeaderTransfer => "leader-transfer",
        }
    }
}

impl fmt::Display for NemesisKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for NemesisKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NemesisKind::ALL
            .into_iter()
            .find(|k| k.name() == s.trim())
            .ok_or_else(|| {
                format!(
                    "unknown nemesis {s:?}; expected none, combined, or a comma-separated list of: {}",
                    NemesisKind::ALL.map(NemesisKind::name).join(", ")
                )
            })
    }
}

/// Parses `--nemesis`: `none`, `combined` (every kind) or a comma-separated list of kinds.
/// The result is sorted and deduplicated.
pub fn parse_nemesis(s: &str) -> Result<Vec<NemesisKind>, String> {
    let mut kinds = match s.trim() {
        "none" => Vec::new(),
        "combined" | "all" => NemesisKind::ALL.to_vec(),
        list => list
            .split(',')
            .map(str::parse)
            .collect::<Result<Vec<NemesisKind>, String>>()?,
    };
    kinds.sort();
    kinds.dedup();
    Ok(kinds)
}

/// Which nodes a process fault hits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// These nodes (one, or a minority).
    Nodes(Vec<NodeId>),
    /// The leader of shard number `pick % shards` (in shard-id order) when the fault starts.
    LeaderOf { pick: u64 },
}

/// One fault, with its targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "fault", rename_all = "snake_case")]
pub enum Fault {
    /// A static partition shape (`isolate`, `halves`, `majority-minority`, `majorities-ring`,
    /// `bridge`) as a grudge.
    Partition {
        shape: String,
        grudge: Grudge,
    },
    /// The leader of shard `pick % shards` plus `extra` other nodes (so a minority) cut from
    /// the rest: the stale-leader scenario.
    PartitionLeader {
        pick: u64,
        extra: usize,
    },
    Kill {
        target: Target,
    },
    Pause {
        target: Target,
    },
    /// Drop `percent`% of inbound packets on `nodes`.
    Loss {
        nodes: Vec<NodeId>,
        percent: u32,
    },
    /// Run `node` with its wall clock shifted by `offset_secs`.
    ClockSkew {
        node: NodeId,
        offset_secs: i64,
    },
    /// Transfer leadership of shard `pick % shards` (then `pick + 1`, ...) to another replica.
    LeaderTransfer {
        pick: u64,
    },
}

impl Fault {
    pub fn kind(&self) -> NemesisKind {
        match self {
            Fault::Partition { .. } | Fault::PartitionLeader { .. } => NemesisKind::Partition,
            Fault::Kill { .. } => NemesisKind::Kill,
            Fault::Pause { .. } => NemesisKind::Pause,
            Fault::Loss { .. } => NemesisKind::Loss,
            Fault::ClockSkew { .. } => NemesisKind::Clock,
            Fault::LeaderTransfer { .. } => NemesisKind::LeaderTransfer,
        }
    }
}

/// A fault window: `fault` starts at `start` (since the run began) and is healed `duration`
/// later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScheduledFault {
    #[serde(serialize_with = "as_millis")]
    pub start: Duration,
    #[serde(serialize_with = "as_millis")]
    pub duration: Duration,
    #[serde(flatten)]
    pub fault: Fault,
}

fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Timing of a schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    /// No fault may extend past this (the workload's time limit).
    pub time_limit: Duration,
    /// No fault before this.
    pub quiet_start: Duration,
    pub min_fault: Duration,
    pub max_fault: Duration,
    pub min_gap: Duration,
    pub max_gap: Duration,
}

impl Timing {
    /// The default timing for a run of `time_limit`.
    pub fn for_limit(time_limit: Duration) -> Timing {
        Timing {
            time_limit,
            quiet_start: Duration::from_secs(3).min(time_limit / 5),
            min_fault: Duration::from_secs(3),
            max_fault: Duration::from_secs(8),
            min_gap: Duration::from_secs(2),
            max_gap: Duration::from_secs(5),
        }
    }
}

/// Clock offsets the clock nemesis picks from (seconds): small skews, and ones around the
/// idempotency TTL (24 h) and beyond.
pub const CLOCK_OFFSETS: [i64; 6] = [-90, 90, -3_600, 3_600, 90_000, 2 * 86_400];

/// The schedule for `seed`: deterministic in all arguments. Empty when `kinds` is.
pub fn generate(
    seed: u64,
    kinds: &[NemesisKind],
    nodes: &[NodeId],
    timing: &Timing,
) -> Vec<ScheduledFault> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    if kinds.is_empty() || nodes.is_empty() {
        return out;
    }
    let mut t = timing.quiet_start;
    loop {
        let duration = random_duration(&mut rng, timing.min_fault, timing.max_fault);
        if t + timing.min_fault > timing.time_limit {
            break;
        }
        let duration = duration.min(timing.time_limit - t);
        // `kinds` is not empty (checked above), so `choose` returns Some.
        let kind = *kinds.choose(&mut rng).expect("kinds is not empty");
        out.push(ScheduledFault {
            start: t,
            duration,
            fault: fault(&mut rng, kind, nodes),
        });
        t += duration + random_duration(&mut rng, timing.min_gap, timing.max_gap);
    }
    out
}

fn random_duration(rng: &mut StdRng, min: Duration, max: Duration) -> Duration {
    let (lo, hi) = (min.as_millis() as u64, max.as_millis() as u64);
    Duration::from_millis(if hi > lo {
        rng.random_range(lo..=hi)
    } else {
        lo
    })
}

/// At most a minority of `n` nodes.
fn minority(n: usize) -> usize {
    (n - 1) / 2
}

fn fault(rng: &mut StdRng, kind: NemesisKind, nodes: &[NodeId]) -> Fault {
    let mut shuffled = nodes.to_vec();
    shuffled.shuffle(rng);
    let one = shuffled[0];
    let pick: u64 = rng.random_range(0..1024);
    let process_target = |rng: &mut StdRng| match rng.random_range(0..10) {
        0..4 => Target::Nodes(vec![one]),
        4..7 if minority(nodes.len()) > 1 => {
            Target::Nodes(shuffled[..minority(nodes.len())].to_vec())
        }
        _ => Target::LeaderOf { pick },
    };
    match kind {
        NemesisKind::Partition => {
            let (shape, grudge) = match rng.random_range(0..6) {
                0 => ("isolate", partition::isolate(one, nodes)),
                1 => ("halves", partition::halves(&shuffled)),
                2 => ("majority-minority", partition::majority_minority(&shuffled)),
                3 => ("majorities-ring", partition::majorities_ring(&shuffled)),
                4 => ("bridge", partition::bridge(&shuffled)),
                _ => {
                    return Fault::PartitionLeader {
                        pick,
                        extra: rng.random_range(0..=minority(nodes.len()).saturating_sub(1)),
                    };
                }
            };
            Fault::Partition {
                shape: shape.into(),
                grudge,
            }
        }
        NemesisKind::Kill => Fault::Kill {
            target: process_target(rng),
        },
        NemesisKind::Pause => Fault::Pause {
            target: process_target(rng),
        },
        NemesisKind::Loss => {
            let all = rng.random_bool(0.3);
            Fault::Loss {
                nodes: if all { nodes.to_vec() } else { vec![one] },
                percent: *[10u32, 20, 30, 50].choose(rng).expect("non-empty"),
            }
        }
        NemesisKind::Clock => Fault::ClockSkew {
            node: one,
            offset_secs: *CLOCK_OFFSETS.choose(rng).expect("non-empty"),
        },
        NemesisKind::LeaderTransfer => Fault::LeaderTransfer { pick },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(secs: u64) -> Timing {
        Timing::for_limit(Duration::from_secs(secs))
    }

    #[test]
    fn same_seed_same_schedule_and_different_seeds_differ() {
        let kinds = NemesisKind::ALL;
        let a = generate(42, &kinds, &[1, 2, 3, 4, 5], &timing(120));
        let b = generate(42, &kinds, &[1, 2, 3, 4, 5], &timing(120));
        assert_eq!(a, b);
        assert!(a.len() >= 5, "{a:?}");
        let c = generate(43, &kinds, &[1, 2, 3, 4, 5], &timing(120));
        assert_ne!(a, c);
    }

    #[test]
    fn windows_are_ordered_disjoint_and_inside_the_time_limit() {
        for seed in 0..50 {
            let t = timing(60);
            let s = generate(seed, &NemesisKind::ALL, &[1, 2, 3], &t);
            assert!(!s.is_empty());
            assert!(s[0].start >= t.quiet_start);
            for w in s.windows(2) {
                assert!(
                    w[0].start + w[0].duration + t.min_gap <= w[1].start,
                    "{w:?}"
                );
            }
            for f in &s {
                assert!(f.start + f.duration <= t.time_limit);
                assert!(f.duration >= t.min_fault.min(t.time_limit - f.start));
            }
        }
    }

    #[test]
    fn only_requested_kinds_and_valid_targets() {
        let nodes = [1, 2, 3, 4, 5];
        for seed in 0..50 {
            let s = generate(
                seed,
                &[NemesisKind::Partition, NemesisKind::Kill],
                &nodes,
                &timing(90),
            );
            for f in &s {
                assert!(matches!(
                    f.fault.kind(),
                    NemesisKind::Partition | NemesisKind::Kill
                ));
                if let Fault::Kill {
                    target: Target::Nodes(ns),
                } = &f.fault
                {
                    assert!(!ns.is_empty() && ns.len() <= 2, "a minority: {ns:?}");
                }
                if let Fault::Partition { grudge, .. } = &f.fault {
                    assert!(!grudge.is_empty(), "every static shape cuts something");
                }
            }
        }
        assert!(generate(1, &[], &nodes, &timing(60)).is_empty());
    }

    #[test]
    fn parses_nemesis_lists() {
        assert_eq!(parse_nemesis("none").unwrap(), []);
        assert_eq!(parse_nemesis("combined").unwrap().len(), 6);
        assert_eq!(
            parse_nemesis("kill,partition,kill").unwrap(),
            [NemesisKind::Partition, NemesisKind::Kill]
        );
        assert!(
            parse_nemesis("teleport")
                .unwrap_err()
                .contains("leader-transfer")
        );
    }
}
