//! Shard epochs: the version pair that tells a shard a request was routed with an old map.

use serde::{Deserialize, Serialize};

/// A shard descriptor's epoch, with TiKV `RegionEpoch` semantics.
///
/// - `version` increases whenever the shard's **range** changes (split, merge).
/// - `conf_ver` increases whenever its **replica membership** changes (add/remove replica).
///
/// Requests carry the epoch they were routed with; a shard whose current epoch is newer in either
/// component rejects the request with its fresh descriptor so the client refreshes its route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Epoch {
    /// Range version: bumped on split and merge.
    pub version: u64,
    /// Configuration version: bumped on replica membership change.
    pub conf_ver: u64,
}

impl Epoch {
    /// The epoch of every shard in a freshly built map (TiKV also starts at 1).
    pub const INITIAL: Epoch = Epoch {
        version: 1,
        conf_ver: 1,
    };

    /// Whether `self` (the epoch a request was routed with) is older than `current` (the epoch the
    /// shard holds now) in either component. Equal epochs are not stale; an epoch newer than the
    /// shard's (the shard itself lags) is not stale either: that replica must catch up instead.
    pub fn is_stale_against(&self, current: &Epoch) -> bool {
        self.version < current.version || self.conf_ver < current.conf_ver
    }

    /// The epoch after a range change (split/merge), or `None` if `version` is already `u64::MAX`.
    pub fn next_version(&self) -> Option<Epoch> {
        Some(Epoch {
            version: self.version.checked_add(1)?,
            conf_ver: self.conf_ver,
        })
    }

    /// The epoch after a membership change, or `None` if `conf_ver` is already `u64::MAX`.
    pub fn next_conf_ver(&self) -> Option<Epoch> {
        Some(Epoch {
            version: self.version,
            conf_ver: self.conf_ver.checked_add(1)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Staleness is per component: older in either one is stale, equal or newer is not.
    #[test]
    fn staleness_is_per_component() {
        let cur = Epoch {
            version: 5,
            conf_ver: 3,
        };
        assert!(!cur.is_stale_against(&cur));
        assert!(
            Epoch {
                version: 4,
                conf_ver: 3
            }
            .is_stale_against(&cur)
        );
        assert!(
            Epoch {
                version: 5,
                conf_ver: 2
            }
            .is_stale_against(&cur)
        );
        assert!(
            Epoch {
                version: 6,
                conf_ver: 2
            }
            .is_stale_against(&cur)
        );
        assert!(
            !Epoch {
                version: 6,
                conf_ver: 3
            }
            .is_stale_against(&cur)
        );
        assert!(
            !Epoch {
                version: 5,
                conf_ver: 4
            }
            .is_stale_against(&cur)
        );
    }

    #[test]
    fn bumps_are_checked() {
        let e = Epoch::INITIAL;
        assert_eq!(
            e.next_version(),
            Some(Epoch {
                version: 2,
                conf_ver: 1
            })
        );
        assert_eq!(
            e.next_conf_ver(),
            Some(Epoch {
                version: 1,
                conf_ver: 2
            })
        );
        assert_eq!(
            Epoch {
                version: u64::MAX,
                conf_ver: 0
            }
            .next_version(),
            None
        );
        assert_eq!(
            Epoch {
                version: 0,
                conf_ver: u64::MAX
            }
            .next_conf_ver(),
            None
        );
    }
}
