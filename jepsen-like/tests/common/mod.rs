//! A tiny scripting language for hand-written histories: each call states one operation's
//! process, real-time interval and outcome; [`Script::history`] interleaves them by time.

#![allow(dead_code)] // Each test binary uses a different subset.

use jepsen_like::{History, OpType, Payload, RegisterValue, SetElement};

/// Operations written in any order; events are sorted by time (stably, so an op's completion and
/// the same process's next invocation at the same instant keep their written order).
#[derive(Default)]
pub struct Script {
    events: Vec<(u64, u64, OpType, Payload, Option<String>)>,
}

impl Script {
    pub fn new() -> Self {
        Script::default()
    }

    /// `process` ran `request` from `at[0]` to `at[1]` and it completed `ok` with `result`.
    pub fn ok(
        &mut self,
        process: u64,
        at: [u64; 2],
        request: Payload,
        result: Payload,
    ) -> &mut Self {
        self.events
            .push((at[0], process, OpType::Invoke, request, None));
        self.events.push((at[1], process, OpType::Ok, result, None));
        self
    }

    /// `process` ran `request` from `at[0]` to `at[1]` and it failed definitely with `error`.
    pub fn fail(&mut self, process: u64, at: [u64; 2], request: Payload, error: &str) -> &mut Self {
        self.events
            .push((at[0], process, OpType::Invoke, request.clone(), None));
        self.events
            .push((at[1], process, OpType::Fail, request, Some(error.into())));
        self
    }

    /// `process` ran `request` from `at[0]` and gave up at `at[1]` with an unknown outcome.
    pub fn info(&mut self, process: u64, at: [u64; 2], request: Payload) -> &mut Self {
        self.events
            .push((at[0], process, OpType::Invoke, request.clone(), None));
        self.events.push((
            at[1],
            process,
            OpType::Info,
            request,
            Some("TIMEOUT".into()),
        ));
        self
    }

    /// `process` invoked `request` at `at` and the history ended before it completed.
    pub fn pending(&mut self, process: u64, at: u64, request: Payload) -> &mut Self {
        self.events
            .push((at, process, OpType::Invoke, request, None));
        self
    }

    /// The validated history. Panics (failing the test) if the script is not well-formed.
    pub fn history(&self) -> History {
        let mut events = self.events.clone();
        events.sort_by_key(|e| e.0);
        let mut history = History::empty();
        for (time_ns, process, op_type, payload, error) in events {
            history
                .record(process, op_type, time_ns, payload, error)
                .expect("test scripts are well-formed");
        }
        history
    }
}

pub fn value(version: u64, status: &str) -> RegisterValue {
    RegisterValue::new(version, status)
}

pub fn create(id: &str) -> Payload {
    Payload::Create {
        order_id: id.into(),
        created: None,
    }
}

pub fn created(id: &str) -> Payload {
    Payload::Create {
        order_id: id.into(),
        created: Some(value(1, "AWAITING_PAYMENT")),
    }
}

pub fn read(id: &str) -> Payload {
    Payload::Read {
        order_id: id.into(),
        observed: None,
    }
}

pub fn read_saw(id: &str, version: u64, status: &str) -> Payload {
    Payload::Read {
        order_id: id.into(),
        observed: Some(value(version, status)),
    }
}

/// An `ok` read that found no order.
pub fn read_absent(id: &str) -> Payload {
    read(id)
}

pub fn transition(id: &str, action: &str, expected_version: Option<u64>) -> Payload {
    Payload::Transition {
        order_id: id.into(),
        action: action.into(),
        expected_version,
        result: None,
    }
}

pub fn transitioned(
    id: &str,
    action: &str,
    expected_version: Option<u64>,
    version: u64,
    status: &str,
) -> Payload {
    Payload::Transition {
        order_id: id.into(),
        action: action.into(),
        expected_version,
        result: Some(value(version, status)),
    }
}

pub fn add(id: &str, key: &str) -> Payload {
    Payload::Add {
        order_id: id.into(),
        idempotency_key: key.into(),
    }
}

pub fn read_all() -> Payload {
    Payload::ReadAll {
        elements: Vec::new(),
    }
}

pub fn listed(elements: &[(&str, &str)]) -> Payload {
    Payload::ReadAll {
        elements: elements
            .iter()
            .map(|(id, key)| SetElement {
                order_id: (*id).into(),
                idempotency_key: (*key).into(),
            })
            .collect(),
    }
}
