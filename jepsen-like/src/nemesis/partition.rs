//! Partition shapes as *grudges* (Jepsen's term): for each node, the nodes whose packets it
//! drops. All functions are pure; [`rules`] turns a grudge into iptables commands for the
//! nodes' `OSJ-PART` chains and [`heal_commands`] flushes them.
//!
//! Every shape here is symmetric (if `a` drops `b`, `b` drops `a`), so a cut stops TCP in both
//! directions even though rules only filter inbound traffic. A node's traffic is dropped by
//! both of its source addresses ([`netns::source_ips`]): its own, and the one the proxy uses
//! on its behalf, so a partition cuts proxied links too.

use std::collections::BTreeMap;
use std::collections::BTreeSet;

use crate::netns;
use crate::netns::Cmd;
use crate::netns::NodeId;

/// Node -> the nodes whose traffic it drops. Nodes with nothing to drop are absent.
pub type Grudge = BTreeMap<NodeId, BTreeSet<NodeId>>;

/// Nodes in different `components` cannot talk; nodes in the same one can.
pub fn split(components: &[Vec<NodeId>]) -> Grudge {
    let mut g = Grudge::new();
    for (i, a_side) in components.iter().enumerate() {
        for (j, b_side) in components.iter().enumerate() {
            if i == j || b_side.is_empty() {
                continue;
            }
            for &a in a_side {
                g.entry(a).or_default().extend(b_side.iter().copied());
            }
        }
    }
    g
}

/// `node` alone against the rest.
pub fn isolate(node: NodeId, all: &[NodeId]) -> Grudge {
    let rest: Vec<NodeId> = all.iter().copied().filter(|&n| n != node).collect();
    split(&[vec![node], rest])
}

/// `shuffled` cut into its first `len / 2` nodes and the rest (for odd counts the first part
/// is the smaller one).
pub fn halves(shuffled: &[NodeId]) -> Grudge {
    let (a, b) = shuffled.split_at(shuffled.len() / 2);
    split(&[a.to_vec(), b.to_vec()])
}

/// The first `(len - 1) / 2` nodes of `shuffled` (a minority, possibly empty) against the
/// rest (a majority).
pub fn majority_minority(shuffled: &[NodeId]) -> Grudge {
    let (a, b) = shuffled.split_at((shuffled.len() - 1) / 2);
    split(&[a.to_vec(), b.to_vec()])
}

/// Smallest majority of `n` nodes.
pub fn majority(n: usize) -> usize {
    n / 2 + 1
}

/// Nodes on a ring (in `ring` order) each see only those within ring distance `k`, with `k`
/// the smallest value that makes every view a majority: every node sees a majority, and no
/// two nodes see the same one. Needs at least 4 nodes (with 3, every majority view is the
/// whole cluster); for fewer it returns [`bridge`] of the ring, the closest shape.
pub fn majorities_ring(ring: &[NodeId]) -> Grudge {
    let n = ring.len();
    if n < 4 {
        return bridge(ring);
    }
    let k = majority(n) / 2;
    let mut g = Grudge::new();
    for i in 0..n {
        for j in 0..n {
            let d = i.abs_diff(j);
            if d.min(n - d) > k {
                g.entry(ring[i]).or_default().insert(ring[j]);
            }
        }
    }
    g
}

/// Two halves that cannot talk, plus `shuffled[0]` that talks to both (Jepsen's bridge).
pub fn bridge(shuffled: &[NodeId]) -> Grudge {
    if shuffled.len() < 3 {
        return Grudge::new();
    }
    let rest = &shuffled[1..];
    let (a, b) = rest.split_at(rest.len() / 2);
    split(&[a.to_vec(), b.to_vec()])
}

/// The nodes `node` can still reach under `grudge` (itself included).
pub fn visible(grudge: &Grudge, node: NodeId, all: &[NodeId]) -> BTreeSet<NodeId> {
    let dropped = grudge.get(&node).cloned().unwrap_or_default();
    all.iter()
        .copied()
        .filter(|n| !dropped.contains(n))
        .collect()
}

/// iptables commands that install `grudge` (one DROP per (node, source address) pair).
pub fn rules(grudge: &Grudge) -> Vec<Cmd> {
    grudge
        .iter()
        .flat_map(|(&node, from)| {
            from.iter()
                .flat_map(|&src| netns::source_ips(src))
                .map(move |ip| {
                    Cmd::iptables(
                        node,
                        &format!("-A {} -s {ip} -j DROP", netns::PARTITION_CHAIN),
                    )
                })
        })
        .collect()
}

/// iptables commands that remove every partition rule on `nodes`.
pub fn heal_commands(nodes: &[NodeId]) -> Vec<Cmd> {
    nodes
        .iter()
        .map(|&n| Cmd::iptables(n, &format!("-F {}", netns::PARTITION_CHAIN)))
        .collect()
}

/// A one-line description, e.g. `1|2,3` for components, or the grudge itself.
pub fn describe(grudge: &Grudge) -> String {
    if grudge.is_empty() {
        return "no cut".into();
    }
    grudge
        .iter()
        .map(|(n, from)| {
            let f: Vec<String> = from.iter().map(u64::to_string).collect();
            format!("{n} drops {}", f.join(","))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn symmetric(g: &Grudge) -> bool {
        g.iter()
            .all(|(a, from)| from.iter().all(|b| g.get(b).is_some_and(|s| s.contains(a))))
    }

    #[test]
    fn isolate_cuts_one_node_from_all_others() {
        let g = isolate(2, &[1, 2, 3]);
        assert_eq!(g[&2], BTreeSet::from([1, 3]));
        assert_eq!(g[&1], BTreeSet::from([2]));
        assert_eq!(g[&3], BTreeSet::from([2]));
        assert!(symmetric(&g));
    }

    #[test]
    fn halves_and_majority_minority_sizes() {
        let all = [5, 3, 1, 4, 2];
        let h = halves(&all);
        assert_eq!(visible(&h, 5, &all), BTreeSet::from([5, 3]));
        assert_eq!(visible(&h, 1, &all), BTreeSet::from([1, 4, 2]));
        let m = majority_minority(&[1, 2, 3, 4]);
        assert_eq!(visible(&m, 1, &[1, 2, 3, 4]), BTreeSet::from([1]));
        assert_eq!(visible(&m, 2, &[1, 2, 3, 4]).len(), 3);
        assert!(symmetric(&h) && symmetric(&m));
        // A single node cannot be cut.
        assert!(majority_minority(&[7]).is_empty());
    }

    #[test]
    fn majorities_ring_gives_every_node_a_distinct_majority() {
        for n in 4..=9u64 {
            let ring: Vec<NodeId> = (1..=n).rev().collect();
            let g = majorities_ring(&ring);
            let views: BTreeSet<BTreeSet<NodeId>> =
                ring.iter().map(|&x| visible(&g, x, &ring)).collect();
            assert_eq!(views.len(), n as usize, "views distinct for n={n}");
            for v in &views {
                assert!(v.len() >= majority(n as usize), "majority for n={n}: {v:?}");
                assert!(v.len() < n as usize, "a real cut for n={n}");
            }
            assert!(symmetric(&g));
        }
    }

    #[test]
    fn bridge_node_sees_everyone_and_the_halves_do_not_see_each_other() {
        let all = [3, 1, 2, 5, 4];
        let g = bridge(&all);
        assert_eq!(visible(&g, 3, &all).len(), 5);
        assert_eq!(visible(&g, 1, &all), BTreeSet::from([1, 2, 3]));
        assert_eq!(visible(&g, 4, &all), BTreeSet::from([3, 5, 4]));
        assert!(symmetric(&g));
        let three = bridge(&[2, 1, 3]);
        assert_eq!(three[&1], BTreeSet::from([3]));
        assert!(!three.contains_key(&2));
    }

    #[test]
    fn rules_drop_each_grudged_source_in_the_right_namespace() {
        let cmds: Vec<String> = rules(&isolate(1, &[1, 2]))
            .iter()
            .map(|c| c.to_string())
            .collect();
        assert_eq!(
            cmds,
            [
                "ip netns exec osj-n1 iptables -w -A OSJ-PART -s 10.213.0.2 -j DROP",
                "ip netns exec osj-n1 iptables -w -A OSJ-PART -s 10.213.0.102 -j DROP",
                "ip netns exec osj-n2 iptables -w -A OSJ-PART -s 10.213.0.1 -j DROP",
                "ip netns exec osj-n2 iptables -w -A OSJ-PART -s 10.213.0.101 -j DROP",
            ]
        );
        assert_eq!(
            heal_commands(&[2])[0].to_string(),
            "ip netns exec osj-n2 iptables -w -F OSJ-PART"
        );
    }
}
