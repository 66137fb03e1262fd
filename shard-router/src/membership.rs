//! Cluster membership as the placement planner sees it: every node, its failure-domain labels and
//! its lifecycle state.
//!
//! # Storage rule
//! The meta shard stores these types with bincode v1, which encodes struct fields by **position**
//! and enum variants by **index**. So: append new fields and variants at the end only; never
//! reorder, rename-in-place or remove them. bincode v1 has no field names or lengths, so a record
//! written before a field was appended does not decode with the new struct: the meta shard must
//! prefix its records with a schema version and upcast old ones when a field is added.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{MembershipError, PlacementNode};

/// Where a node is in its lifecycle. Placement reads it; the meta shard writes it (a node is
/// marked `Down` after it has been unreachable longer than the cluster's timeout, by operators
/// for `Draining`/`Decommissioned`). It is never configuration.
///
/// | state | holds replicas | receives new replicas | may lead | counts for quorum |
/// |---|---|---|---|---|
/// | `Up` | yes | yes | yes | yes |
/// | `Draining` | keeps its own | no | no | yes |
/// | `Down` | replaced elsewhere | no | no | no |
/// | `Decommissioned` | moved away | no | no | yes, until removed |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum NodeState {
    /// Serving normally.
    Up,
    /// Unreachable for longer than the timeout: its replicas are re-created elsewhere.
    Down,
    /// Being drained: keeps its replicas but leads nothing (`orderctl node drain`).
    Draining,
    /// Leaving for good: every replica moves away, then the node can be removed. Terminal.
    Decommissioned,
}

impl NodeState {
    /// Whether a node in this state may receive a new replica.
    pub fn accepts_replicas(self) -> bool {
        self == NodeState::Up
    }

    /// Whether a node in this state may lead a shard.
    pub fn may_lead(self) -> bool {
        self == NodeState::Up
    }

    /// Whether a replica on a node in this state still votes (the process is assumed running).
    pub fn is_live(self) -> bool {
        self != NodeState::Down
    }

    /// Whether a node in this state keeps the replicas it already has.
    pub fn keeps_replicas(self) -> bool {
        matches!(self, NodeState::Up | NodeState::Draining)
    }

    /// Whether `self -> next` is allowed: anything except leaving `Decommissioned`. Staying in
    /// the same state is allowed (idempotent).
    pub fn can_become(self, next: NodeState) -> bool {
        self != NodeState::Decommissioned || next == NodeState::Decommissioned
    }
}

/// One member node: id, failure-domain labels and state. Zones are scoped by region (two nodes are
/// in the same zone when region and zone are both equal); hosts by zone.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NodeInfo {
    /// Raft node id, non-zero.
    pub id: u64,
    /// Region label, e.g. `eu-west`. Non-empty.
    pub region: String,
    /// Zone label within the region, e.g. `z1`. Non-empty.
    pub zone: String,
    /// Physical host label; `None` when unknown (every node is then its own host).
    pub host: Option<String>,
    /// Lifecycle state.
    pub state: NodeState,
}

impl NodeInfo {
    /// An `Up` node without host label.
    pub fn up(id: u64, region: impl Into<String>, zone: impl Into<String>) -> NodeInfo {
        NodeInfo {
            id,
            region: region.into(),
            zone: zone.into(),
            host: None,
            state: NodeState::Up,
        }
    }

    /// The node as the initial-map planner sees it (labels only).
    pub fn placement_node(&self) -> PlacementNode {
        PlacementNode {
            id: self.id,
            region: self.region.clone(),
            zone: self.zone.clone(),
        }
    }
}

/// The validated set of member nodes, sorted by id.
///
/// # Invariants
/// Ids are non-zero and unique; region and zone labels are non-empty; a `host` label is non-empty
/// and belongs to a single (region, zone). Every constructor and mutator checks this, and
/// deserialisation goes through [`Membership::new`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawMembership")]
pub struct Membership {
    nodes: Vec<NodeInfo>,
}

/// Unchecked wire form of a [`Membership`].
#[derive(Deserialize)]
struct RawMembership {
    nodes: Vec<NodeInfo>,
}

impl TryFrom<RawMembership> for Membership {
    type Error = MembershipError;

    fn try_from(raw: RawMembership) -> Result<Self, Self::Error> {
        Membership::new(raw.nodes)
    }
}

impl Membership {
    /// Builds a membership from nodes in any order.
    ///
    /// # Errors
    /// [`MembershipError::ZeroNodeId`], [`MembershipError::DuplicateNodeId`],
    /// [`MembershipError::EmptyLabel`], [`MembershipError::HostSpansZones`].
    pub fn new(mut nodes: Vec<NodeInfo>) -> Result<Membership, MembershipError> {
        nodes.sort_by_key(|n| n.id);
        let membership = Membership { nodes };
        membership.validate()?;
        Ok(membership)
    }

    /// Every node `Up`, without host labels: the membership of a freshly configured cluster.
    ///
    /// # Errors
    /// As [`Membership::new`].
    pub fn from_placement_nodes(nodes: &[PlacementNode]) -> Result<Membership, MembershipError> {
        Membership::new(
            nodes
                .iter()
                .map(|n| NodeInfo::up(n.id, n.region.clone(), n.zone.clone()))
                .collect(),
        )
    }

    fn validate(&self) -> Result<(), MembershipError> {
        let mut hosts: BTreeMap<&str, &NodeInfo> = BTreeMap::new();
        for (i, node) in self.nodes.iter().enumerate() {
            if node.id == 0 {
                return Err(MembershipError::ZeroNodeId);
            }
            if i > 0 && self.nodes[i - 1].id == node.id {
                return Err(MembershipError::DuplicateNodeId(node.id));
            }
            let empty = |label| MembershipError::EmptyLabel {
                node: node.id,
                label,
            };
            if node.region.is_empty() {
                return Err(empty("region"));
            }
            if node.zone.is_empty() {
                return Err(empty("zone"));
            }
            if let Some(host) = &node.host {
                if host.is_empty() {
                    return Err(empty("host"));
                }
                let first = *hosts.entry(host.as_str()).or_insert(node);
                if (first.region.as_str(), first.zone.as_str())
                    != (node.region.as_str(), node.zone.as_str())
                {
                    return Err(MembershipError::HostSpansZones {
                        host: host.clone(),
                        first: first.id,
                        second: node.id,
                    });
                }
            }
        }
        Ok(())
    }

    /// The node with id `id` (binary search).
    pub fn get(&self, id: u64) -> Option<&NodeInfo> {
        self.nodes
            .binary_search_by_key(&id, |n| n.id)
            .ok()
            .map(|i| &self.nodes[i])
    }

    /// All nodes in id order.
    pub fn nodes(&self) -> std::slice::Iter<'_, NodeInfo> {
        self.nodes.iter()
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Distinct regions of all nodes, sorted.
    pub fn regions(&self) -> Vec<&str> {
        let mut regions: Vec<&str> = self.nodes.iter().map(|n| n.region.as_str()).collect();
        regions.sort_unstable();
        regions.dedup();
        regions
    }

    /// Adds a node (`orderctl node add`). On error the membership is unchanged.
    ///
    /// # Errors
    /// As [`Membership::new`] for the resulting set.
    pub fn add(&mut self, node: NodeInfo) -> Result<(), MembershipError> {
        let mut nodes = self.nodes.clone();
        nodes.push(node);
        *self = Membership::new(nodes)?;
        Ok(())
    }

    /// Sets a node's state. Setting the state it already has is a no-op.
    ///
    /// # Errors
    /// [`MembershipError::UnknownNode`]; [`MembershipError::IllegalTransition`] when
    /// [`NodeState::can_become`] refuses.
    pub fn set_state(&mut self, id: u64, state: NodeState) -> Result<(), MembershipError> {
        let idx = self
            .nodes
            .binary_search_by_key(&id, |n| n.id)
            .map_err(|_| MembershipError::UnknownNode(id))?;
        let node = &mut self.nodes[idx];
        if !node.state.can_become(state) {
            return Err(MembershipError::IllegalTransition {
                node: id,
                from: node.state,
                to: state,
            });
        }
        node.state = state;
        Ok(())
    }

    /// Removes a decommissioned node and returns it. The caller must first have applied a plan
    /// that left no replica on it (the planner reports such replicas as violations), otherwise
    /// later plans fail with [`PlanError::UnknownNode`](crate::PlanError::UnknownNode).
    ///
    /// # Errors
    /// [`MembershipError::UnknownNode`], [`MembershipError::NotDecommissioned`].
    pub fn remove(&mut self, id: u64) -> Result<NodeInfo, MembershipError> {
        let idx = self
            .nodes
            .binary_search_by_key(&id, |n| n.id)
            .map_err(|_| MembershipError::UnknownNode(id))?;
        let state = self.nodes[idx].state;
        if state != NodeState::Decommissioned {
            return Err(MembershipError::NotDecommissioned { node: id, state });
        }
        Ok(self.nodes.remove(idx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: u64, zone: &str, host: Option<&str>) -> NodeInfo {
        NodeInfo {
            host: host.map(str::to_owned),
            ..NodeInfo::up(id, "r1", zone)
        }
    }

    /// Table of invalid memberships and the error each must report.
    #[test]
    fn validation_catches_each_violation() {
        let cases: Vec<(&str, Vec<NodeInfo>, MembershipError)> = vec![
            (
                "zero id",
                vec![node(0, "z1", None)],
                MembershipError::ZeroNodeId,
            ),
            (
                "duplicate id",
                vec![node(2, "z1", None), node(2, "z2", None)],
                MembershipError::DuplicateNodeId(2),
            ),
            (
                "empty zone",
                vec![node(1, "", None)],
                MembershipError::EmptyLabel {
                    node: 1,
                    label: "zone",
                },
            ),
            (
                "empty region",
                vec![NodeInfo::up(1, "", "z1")],
                MembershipError::EmptyLabel {
                    node: 1,
                    label: "region",
                },
            ),
            (
                "empty host",
                vec![node(1, "z1", Some(""))],
                MembershipError::EmptyLabel {
                    node: 1,
                    label: "host",
                },
            ),
            (
                "host in two zones",
                vec![node(3, "z2", Some("h")), node(1, "z1", Some("h"))],
                MembershipError::HostSpansZones {
                    host: "h".into(),
                    first: 1,
                    second: 3,
                },
            ),
        ];
        for (name, nodes, want) in cases {
            assert_eq!(Membership::new(nodes).err(), Some(want), "case {name}");
        }
        let ok = Membership::new(vec![node(2, "z1", Some("h")), node(1, "z1", Some("h"))])
            .expect("one host, one zone");
        assert_eq!(ok.nodes().map(|n| n.id).collect::<Vec<_>>(), vec![1, 2]);
    }

    /// Scenario: add, drain, fail, decommission and remove a node; illegal steps change nothing.
    #[test]
    fn lifecycle() {
        let mut m = Membership::new(vec![node(1, "z1", None)]).expect("valid");
        m.add(node(2, "z2", None)).expect("new id");
        assert_eq!(
            m.add(node(2, "z3", None)),
            Err(MembershipError::DuplicateNodeId(2))
        );
        m.set_state(2, NodeState::Draining).expect("up -> draining");
        m.set_state(2, NodeState::Down).expect("draining -> down");
        m.set_state(2, NodeState::Up).expect("down -> up");
        assert_eq!(
            m.remove(2),
            Err(MembershipError::NotDecommissioned {
                node: 2,
                state: NodeState::Up
            })
        );
        m.set_state(2, NodeState::Decommissioned).expect("terminal");
        m.set_state(2, NodeState::Decommissioned)
            .expect("idempotent");
        assert_eq!(
            m.set_state(2, NodeState::Up),
            Err(MembershipError::IllegalTransition {
                node: 2,
                from: NodeState::Decommissioned,
                to: NodeState::Up
            })
        );
        assert_eq!(
            m.set_state(9, NodeState::Up),
            Err(MembershipError::UnknownNode(9))
        );
        assert_eq!(m.remove(2).map(|n| n.id), Ok(2));
        assert_eq!(m.len(), 1);
        assert_eq!(m.get(1).map(|n| n.zone.as_str()), Some("z1"));
        assert!(m.get(2).is_none());
    }

    /// Serde round trip; deserialisation validates.
    #[test]
    fn serde_validates() {
        let m =
            Membership::new(vec![node(1, "z1", Some("h1")), node(2, "z2", None)]).expect("valid");
        let json = serde_json::to_string(&m).expect("plain data");
        assert_eq!(serde_json::from_str::<Membership>(&json).expect("ok"), m);
        let bad = r#"{"nodes":[{"id":0,"region":"r","zone":"z","host":null,"state":"Up"}]}"#;
        assert!(serde_json::from_str::<Membership>(bad).is_err());
    }
}
