//! [`Consistency`]: how fresh a read must be.

use orderstore_proto::v1::ReadConsistency;

/// Read consistency of [`crate::Client::get_order`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Consistency {
    /// Served by the shard leader after a read-index barrier: reflects every acknowledged write.
    #[default]
    Linearizable,
    /// Served from the contacted replica's applied state; may miss recent writes.
    Stale,
}

impl From<Consistency> for ReadConsistency {
    fn from(c: Consistency) -> Self {
        match c {
            Consistency::Linearizable => ReadConsistency::Linearizable,
            Consistency::Stale => ReadConsistency::Stale,
        }
    }
}
