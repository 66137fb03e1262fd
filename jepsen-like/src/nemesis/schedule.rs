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
use crate::proxy::ResetMode;

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
    /// Latency with jitter on proxied links (the TCP proxy).
    Delay,
    /// A bandwidth limit on proxied links.
    Bandwidth,
    /// Proxied links stop forwarding (connections stay open).
    Stall,
    /// Proxied connections reset (RST), once or for the whole window.
    Reset,
    /// Outbound packets duplicated at random (`iptables -j TEE`).
    Duplicate,
    /// SIGKILL a node, drop what its filesystem had not fsynced (lazyfs `clear-cache`),
    /// restart it at the end of the window. Needs the nodes' data dirs on `osj-lazyfs`.
    LostWrites,
}

impl NemesisKind {
    pub const ALL: [NemesisKind; 12] = [
        NemesisKind::Partition,
        NemesisKind::Kill,
        NemesisKind::Pause,
        NemesisKind::Loss,
        NemesisKind::Clock,
        NemesisKind::LeaderTransfer,
        NemesisKind::Delay,
        NemesisKind::Bandwidth,
        NemesisKind::Stall,
        NemesisKind::Reset,
        NemesisKind::Duplicate,
        NemesisKind::LostWrites,
    ];

    /// What the `packet` selector stands for.
    pub const PACKET: [NemesisKind; 5] = [
        NemesisKind::Loss,
        NemesisKind::Delay,
        NemesisKind::Bandwidth,
        NemesisKind::Stall,
        NemesisKind::Reset,
    ];

    /// Whether faults of this kind act through the TCP proxy (which then has to run).
    pub const fn uses_proxy(self) -> bool {
        matches!(
            self,
            NemesisKind::Delay | NemesisKind::Bandwidth | NemesisKind::Stall | NemesisKind::Reset
        )
    }

    pub const fn name(self) -> &'static str {
        match self {
            NemesisKind::Partition => "partition",
            NemesisKind::Kill => "kill",
            NemesisKind::Pause => "pause",
            NemesisKind::Loss => "loss",
            NemesisKind::Clock => "clock",
            NemesisKind::LeaderTransfer => "leader-transfer",
            NemesisKind::Delay => "delay",
            NemesisKind::Bandwidth => "bandwidth",
            NemesisKind::Stall => "stall",
            NemesisKind::Reset => "reset",
            NemesisKind::Duplicate => "duplicate",
            NemesisKind::LostWrites => "lost-writes",
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
                    "unknown nemesis {s:?}; expected none, combined, or a comma-separated list of: packet, {}",
                    NemesisKind::ALL.map(NemesisKind::name).join(", ")
                )
            })
    }
}

/// Parses `--nemesis`: `none`, `combined` (every kind) or a comma-separated list of kinds and
/// `packet` (= loss, delay, bandwidth, stall, reset). The result is sorted and deduplicated.
pub fn parse_nemesis(s: &str) -> Result<Vec<NemesisKind>, String> {
    let mut kinds = match s.trim() {
        "none" => Vec::new(),
        "combined" | "all" => NemesisKind::ALL.to_vec(),
        list => {
            let mut kinds = Vec::new();
            for word in list.split(',') {
                match word.trim() {
                    "packet" => kinds.extend(NemesisKind::PACKET),
                    w => kinds.push(w.parse()?),
                }
            }
            kinds
        }
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

/// Which proxied links a proxy fault acts on (both directions of each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Links {
    /// Every link to and from this node.
    Node(NodeId),
    /// Every link.
    All,
}

impl Links {
    /// The node whose links these are (`None`: all links).
    pub fn node(self) -> Option<NodeId> {
        match self {
            Links::Node(n) => Some(n),
            Links::All => None,
        }
    }
}

impl fmt::Display for Links {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Links::Node(n) => write!(f, "the links of node {n}"),
            Links::All => f.write_str("all links"),
        }
    }
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
    /// Run `node` with its wall clock shifted by `offset_secs`, running at `rate_pct` % of
    /// real speed (100: real speed).
    ClockSkew {
        node: NodeId,
        offset_secs: i64,
        rate_pct: u32,
    },
    /// Transfer leadership of shard `pick % shards` (then `pick + 1`, ...) to another replica.
    LeaderTransfer {
        pick: u64,
    },
    /// Delay every chunk on `links` by `latency_ms ± jitter_ms`.
    Delay {
        links: Links,
        latency_ms: u64,
        jitter_ms: u64,
    },
    /// Limit `links` to `bytes_per_sec` each way.
    Bandwidth {
        links: Links,
        bytes_per_sec: u64,
    },
    /// Stop forwarding on `links`, connections kept open.
    Stall {
        links: Links,
    },
    /// Reset the connections of `links`, once or also every new one until the window ends.
    Reset {
        links: Links,
        mode: ResetMode,
    },
    /// Duplicate `percent`% of the packets `nodes` send.
    Duplicate {
        nodes: Vec<NodeId>,
        percent: u32,
    },
    /// SIGKILL one node (a node, or the leader of a shard), drop its un-fsynced writes,
    /// restart it when the window ends.
    LostWrites {
        target: Target,
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
            Fault::Delay { .. } => NemesisKind::Delay,
            Fault::Bandwidth { .. } => NemesisKind::Bandwidth,
            Fault::Stall { .. } => NemesisKind::Stall,
            Fault::Reset { .. } => NemesisKind::Reset,
            Fault::Duplicate { .. } => NemesisKind::Duplicate,
            Fault::LostWrites { .. } => NemesisKind::LostWrites,
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

/// Clock speeds the clock nemesis picks from (% of real speed), each with equal chance; a
/// changed speed comes with no offset: the clock starts right and drifts.
pub const CLOCK_RATES_PCT: [u32; 6] = [100, 100, 100, 50, 150, 300];

/// Base latencies the delay nemesis picks from (ms); the jitter is up to half the base.
pub const DELAYS_MS: [u64; 5] = [50, 100, 200, 350, 500];

/// Bandwidth limits the bandwidth nemesis picks from (bytes/s): from a crawl to a slow link.
pub const BANDWIDTHS: [u64; 4] = [8 * 1024, 32 * 1024, 128 * 1024, 1024 * 1024];

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
        NemesisKind::Clock => {
            let rate_pct = *CLOCK_RATES_PCT.choose(rng).expect("non-empty");
            let offset = *CLOCK_OFFSETS.choose(rng).expect("non-empty");
            Fault::ClockSkew {
                node: one,
                offset_secs: if rate_pct == 100 { offset } else { 0 },
                rate_pct,
            }
        }
        NemesisKind::LeaderTransfer => Fault::LeaderTransfer { pick },
        NemesisKind::Delay => {
            let links = links(rng, one);
            let latency_ms = *DELAYS_MS.choose(rng).expect("non-empty");
            Fault::Delay {
                links,
                latency_ms,
                jitter_ms: rng.random_range(0..=latency_ms / 2),
            }
        }
        NemesisKind::Bandwidth => Fault::Bandwidth {
            links: links(rng, one),
            bytes_per_sec: *BANDWIDTHS.choose(rng).expect("non-empty"),
        },
        NemesisKind::Stall => Fault::Stall {
            links: links(rng, one),
        },
        NemesisKind::Reset => Fault::Reset {
            links: links(rng, one),
            mode: if rng.random_bool(0.5) {
                ResetMode::Once
            } else {
                ResetMode::WhileActive
            },
        },
        NemesisKind::Duplicate => {
            let all = rng.random_bool(0.3);
            Fault::Duplicate {
                nodes: if all { nodes.to_vec() } else { vec![one] },
                percent: *[10u32, 30, 50].choose(rng).expect("non-empty"),
            }
        }
        // One node at a time: each window's loss is attributable to one filesystem, and a
        // majority keeps serving (a minority crash is what Raft must survive).
        NemesisKind::LostWrites => Fault::LostWrites {
            target: if rng.random_bool(0.5) {
                Target::Nodes(vec![one])
            } else {
                Target::LeaderOf { pick }
            },
        },
    }
}

/// The links of `one` (70 %) or all links.
fn links(rng: &mut StdRng, one: NodeId) -> Links {
    if rng.random_bool(0.3) {
        Links::All
    } else {
        Links::Node(one)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(secs: u64) -> Timing {
        Timing::for_limit(Duration::from_secs(secs))
    }

    #[test]
    fn clock_faults_shift_or_change_speed() {
        let (mut shifted, mut sped) = (0, 0);
        for seed in 0..200 {
            for f in generate(seed, &[NemesisKind::Clock], &[1, 2, 3], &timing(60)) {
                let Fault::ClockSkew {
                    offset_secs,
                    rate_pct,
                    ..
                } = f.fault
                else {
                    panic!("{f:?}");
                };
                assert!(CLOCK_RATES_PCT.contains(&rate_pct));
                if rate_pct == 100 {
                    assert!(CLOCK_OFFSETS.contains(&offset_secs));
                    shifted += 1;
                } else {
                    assert_eq!(offset_secs, 0, "a changed speed starts from the right time");
                    sped += 1;
                }
            }
        }
        assert!(shifted > 0 && sped > 0, "{shifted} shifted, {sped} sped");
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
    fn proxy_and_duplicate_faults_are_deterministic_and_in_range() {
        let nodes = [1, 2, 3, 4, 5];
        let kinds = parse_nemesis("packet,duplicate").unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..40 {
            let a = generate(seed, &kinds, &nodes, &timing(120));
            assert_eq!(a, generate(seed, &kinds, &nodes, &timing(120)));
            for f in &a {
                seen.insert(f.fault.kind());
                let links = match &f.fault {
                    Fault::Delay {
                        links,
                        latency_ms,
                        jitter_ms,
                    } => {
                        assert!(DELAYS_MS.contains(latency_ms));
                        assert!(*jitter_ms <= latency_ms / 2);
                        Some(*links)
                    }
                    Fault::Bandwidth {
                        links,
                        bytes_per_sec,
                    } => {
                        assert!(BANDWIDTHS.contains(bytes_per_sec));
                        Some(*links)
                    }
                    Fault::Stall { links } | Fault::Reset { links, .. } => Some(*links),
                    Fault::Duplicate { nodes: ns, percent } => {
                        assert!(!ns.is_empty() && (1..=50).contains(percent));
                        None
                    }
                    Fault::Loss { .. } => None,
                    other => panic!("not asked for: {other:?}"),
                };
                if let Some(Links::Node(n)) = links {
                    assert!(nodes.contains(&n));
                }
            }
        }
        assert_eq!(seen.len(), 6, "every kind drawn: {seen:?}");
        assert!(kinds.iter().filter(|k| k.uses_proxy()).count() == 4);
    }

    #[test]
    fn lost_writes_faults_are_deterministic_and_hit_one_node() {
        let nodes = [1, 2, 3];
        let kinds = [NemesisKind::LostWrites];
        let mut leader = 0;
        let mut fixed = 0;
        for seed in 0..40 {
            let a = generate(seed, &kinds, &nodes, &timing(60));
            assert!(!a.is_empty());
            assert_eq!(a, generate(seed, &kinds, &nodes, &timing(60)));
            for f in &a {
                match &f.fault {
                    Fault::LostWrites {
                        target: Target::Nodes(ns),
                    } => {
                        assert!(ns.len() == 1 && nodes.contains(&ns[0]), "{ns:?}");
                        fixed += 1;
                    }
                    Fault::LostWrites {
                        target: Target::LeaderOf { .. },
                    } => leader += 1,
                    other => panic!("not asked for: {other:?}"),
                }
            }
        }
        assert!(
            leader > 0 && fixed > 0,
            "{leader} leader, {fixed} fixed targets"
        );
        // `combined` includes it, and the seed still fixes the schedule.
        let combined = parse_nemesis("combined").unwrap();
        assert!(combined.contains(&NemesisKind::LostWrites));
        assert!((0..40).any(|seed| {
            generate(seed, &combined, &nodes, &timing(120))
                .iter()
                .any(|f| f.fault.kind() == NemesisKind::LostWrites)
        }));
        let json = serde_json::to_string(&generate(3, &kinds, &nodes, &timing(20))).unwrap();
        assert!(json.contains("\"fault\":\"lost_writes\""), "{json}");
    }

    #[test]
    fn parses_nemesis_lists() {
        assert_eq!(parse_nemesis("none").unwrap(), []);
        assert_eq!(parse_nemesis("combined").unwrap().len(), 12);
        assert_eq!(
            parse_nemesis("lost-writes,partition").unwrap(),
            [NemesisKind::Partition, NemesisKind::LostWrites]
        );
        assert_eq!(
            parse_nemesis("packet").unwrap(),
            [
                NemesisKind::Loss,
                NemesisKind::Delay,
                NemesisKind::Bandwidth,
                NemesisKind::Stall,
                NemesisKind::Reset
            ]
        );
        assert_eq!(
            parse_nemesis("partition,kill,pause,clock,packet")
                .unwrap()
                .len(),
            9
        );
        assert_eq!(
            parse_nemesis("stall,reset").unwrap(),
            [NemesisKind::Stall, NemesisKind::Reset]
        );
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
