//! [`System`]: the systems `order-bench` can measure.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// A system under test. orderstore is the subject; the others are peers it is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum System {
    /// A 3-node orderstore playground, replication factor 3.
    Orderstore,
    /// A 3-member etcd cluster with durable defaults; orders as JSON under `/orders/<id>`.
    Etcd,
    /// A single PostgreSQL with `synchronous_commit = on`; orders in one table.
    Postgres,
}

impl System {
    pub const ALL: [System; 3] = [System::Orderstore, System::Etcd, System::Postgres];

    /// The name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            System::Orderstore => "orderstore",
            System::Etcd => "etcd",
            System::Postgres => "postgres",
        }
    }
}

impl fmt::Display for System {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Returned when a system name is not one of [`System::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown system {name:?} (expected orderstore, etcd or postgres)")]
pub struct UnknownSystem {
    pub name: String,
}

impl FromStr for System {
    type Err = UnknownSystem;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "orderstore" => Ok(System::Orderstore),
            "etcd" => Ok(System::Etcd),
            "postgres" | "postgresql" | "pg" => Ok(System::Postgres),
            _ => Err(UnknownSystem {
                name: s.to_string(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_aliases_parse() {
        for s in System::ALL {
            assert_eq!(s.as_str().parse::<System>(), Ok(s));
        }
        assert_eq!("PostgreSQL".parse::<System>(), Ok(System::Postgres));
        assert!("mysql".parse::<System>().is_err());
    }
}
