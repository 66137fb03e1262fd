//! The sequential specification a linearizability check is run against, and the operations it
//! is run on.

use std::fmt::Debug;
use std::hash::Hash;

/// A sequential specification: a pure state machine that says which (input, output) steps are
/// legal from a state. Implementations must be deterministic and side-effect free: the checker
/// calls `step` many times on the same arguments while it backtracks.
pub trait Model {
    /// The object's state. Compared and hashed for memoisation, so equal states must behave
    /// identically in every future step.
    type State: Clone + Eq + Hash + Debug;
    /// What the client asked for.
    type Input: Debug;
    /// What the client got back.
    type Output: Debug;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// The state after the operation `input` took effect in `state` and returned `output`, or
    /// `None` when that is impossible. `output` is `None` when the outcome is unknown (an `info`
    /// or pending op): return the state the op would leave if it took effect, or `None` if it
    /// cannot take effect in `state`. (The checker itself covers "it never took effect".)
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Option<Self::State>;

    /// Why [`step`](Self::step) rejects this step, for violation reports; `None` when it accepts.
    /// Only called on the cold path after a violation is found.
    fn explain(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Option<String> {
        self.step(state, input, output)
            .is_none()
            .then(|| format!("{input:?} returning {output:?} is impossible in state {state:?}"))
    }
}

/// How an operation completed, when it completed with a known result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion<O> {
    /// When the client saw the result (same clock as [`Operation::invoked_ns`]).
    pub completed_ns: u64,
    pub output: O,
}

/// One operation as the linearizability checker sees it: an interval of real time in which its
/// effect must fall. Operations with `completion: None` (`info` or pending) may take effect at
/// any time after `invoked_ns`, or never. Definitely failed operations must not be passed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation<I, O> {
    /// Caller-chosen identity reported back in verdicts (the history index of the invocation).
    pub id: u64,
    pub invoked_ns: u64,
    pub input: I,
    pub completion: Option<Completion<O>>,
}
