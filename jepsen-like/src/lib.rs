//! `jepsen-like`: orderstore's black-box chaos harness (real `orderd` processes in network
//! namespaces, nemeses, workloads, histories and checkers).
//!
//! Not built yet: this crate is a placeholder in the workspace layout. The chaos suite is its
//! own issue; until it lands, fault tolerance is covered by the in-process cluster tests in
//! `node/tests/` and the process-level playground tests in `client/tests/`.
