//! Payment providers the saga calls: the built-in ledger (payment shards, through the SDK) and
//! a fault-injecting wrapper for tests and the chaos suite.
//!
//! Every call carries the saga id as its idempotency key (the authorization id), so repeating
//! a call, or a provider delivering a duplicate callback, never charges twice.

use std::sync::Mutex;
use std::time::Duration;

use futures::future::BoxFuture;
use orderstore_client::Client;
use orderstore_client::ClientError;
use orderstore_proto::v1 as pb;
use rand::Rng;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::saga::StepOutcome;

/// A payment gateway as the saga sees it. Implementations map their answers onto
/// [`StepOutcome`]: `Done`, `Refused` for a definitive no (a decline is never retried),
/// `Failed` for anything unknown or transient.
pub trait PaymentProvider: Send + Sync {
    fn authorize<'a>(
        &'a self,
        auth_id: &'a str,
        account_id: &'a str,
        amount: u64,
        currency: &'a str,
    ) -> BoxFuture<'a, StepOutcome>;
    fn capture<'a>(&'a self, auth_id: &'a str, account_id: &'a str) -> BoxFuture<'a, StepOutcome>;
    fn void<'a>(&'a self, auth_id: &'a str, account_id: &'a str) -> BoxFuture<'a, StepOutcome>;
}

/// Maps an SDK failure of a participant call: definite answers (bad input, unknown entity,
/// illegal transition) are refusals, everything else is transient.
pub fn outcome_of_error(e: &ClientError) -> StepOutcome {
    match e {
        ClientError::InvalidArgument { message, .. }
        | ClientError::NotFound { message }
        | ClientError::IllegalTransition { message, .. }
        | ClientError::AlreadyExists { message }
        | ClientError::IdempotencyKeyReused { message } => StepOutcome::Refused {
            reason: message.clone(),
        },
        other => StepOutcome::Failed {
            error: other.to_string(),
        },
    }
}

/// The built-in ledger: accounts on payment shards.
pub struct LedgerProvider {
    client: Client,
}

impl LedgerProvider {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    async fn call(
        &self,
        op: pb::PaymentOpKind,
        auth_id: &str,
        account_id: &str,
        amount: u64,
        currency: &str,
        want: &str,
    ) -> StepOutcome {
        let req = pb::PaymentRequest {
            account_id: account_id.to_owned(),
            auth_id: auth_id.to_owned(),
            op: op as i32,
            amount,
            currency: currency.to_owned(),
        };
        match self.client.payment(req).await {
            Ok(reply) if reply.outcome == want => StepOutcome::Done,
            Ok(reply) => StepOutcome::Refused {
                reason: match reply.authorization {
                    Some(a) if !a.decline_reason.is_empty() => a.decline_reason,
                    _ => reply.outcome.to_lowercase(),
                },
            },
            Err(e) => outcome_of_error(&e),
        }
    }
}

impl PaymentProvider for LedgerProvider {
    fn authorize<'a>(
        &'a self,
        auth_id: &'a str,
        account_id: &'a str,
        amount: u64,
        currency: &'a str,
    ) -> BoxFuture<'a, StepOutcome> {
        Box::pin(self.call(
            pb::PaymentOpKind::PaymentAuthorize,
            auth_id,
            account_id,
            amount,
            currency,
            "AUTHORIZED",
        ))
    }

    fn capture<'a>(&'a self, auth_id: &'a str, account_id: &'a str) -> BoxFuture<'a, StepOutcome> {
        Box::pin(self.call(
            pb::PaymentOpKind::PaymentCapture,
            auth_id,
            account_id,
            0,
            "",
            "CAPTURED",
        ))
    }

    fn void<'a>(&'a self, auth_id: &'a str, account_id: &'a str) -> BoxFuture<'a, StepOutcome> {
        Box::pin(self.call(
            pb::PaymentOpKind::PaymentVoid,
            auth_id,
            account_id,
            0,
            "",
            "VOIDED",
        ))
    }
}

/// Fault rates of [`FaultyProvider`], parsed from `decline=0.1,timeout=0.05,duplicate=0.1,
/// slow_ms=20,seed=7` (the `ORDERD_PAYMENT_FAULTS` variable of `orderd`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultConfig {
    /// Probability that an authorization is declined by the "gateway" (never reaching the
    /// ledger).
    pub decline: f64,
    /// Probability that a call times out: half of those reach the ledger and lose the reply,
    /// half never arrive.
    pub timeout: f64,
    /// Probability that a call is delivered twice (a duplicate callback).
    pub duplicate: f64,
    /// Extra latency of every call.
    pub slow_ms: u64,
    pub seed: u64,
}

impl FaultConfig {
    /// Parses the `key=value,...` form; unknown keys and bad numbers are errors.
    pub fn parse(spec: &str) -> Result<FaultConfig, String> {
        let mut c = FaultConfig::default();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?}: expected key=value"))?;
            let prob = |v: &str| -> Result<f64, String> {
                let p: f64 = v
                    .parse()
                    .map_err(|_| format!("{k}: {v:?} is not a number"))?;
                if (0.0..=1.0).contains(&p) {
                    Ok(p)
                } else {
                    Err(format!("{k}: {p} is not a probability"))
                }
            };
            match k {
                "decline" => c.decline = prob(v)?,
                "timeout" => c.timeout = prob(v)?,
                "duplicate" => c.duplicate = prob(v)?,
                "slow_ms" => c.slow_ms = v.parse().map_err(|_| format!("slow_ms: {v:?}"))?,
                "seed" => c.seed = v.parse().map_err(|_| format!("seed: {v:?}"))?,
                other => return Err(format!("unknown payment fault {other:?}")),
            }
        }
        Ok(c)
    }
}

/// Wraps a provider with declines, timeouts (before or after the effect), duplicate deliveries
/// and added latency, drawn from a seeded generator.
pub struct FaultyProvider<P> {
    inner: P,
    config: FaultConfig,
    rng: Mutex<StdRng>,
}

/// What the fault dice decided for one call.
#[derive(Debug, Clone, Copy)]
enum Fault {
    None,
    Decline,
    LostRequest,
    LostReply,
    Duplicate,
}

impl<P: PaymentProvider> FaultyProvider<P> {
    pub fn new(inner: P, config: FaultConfig) -> Self {
        let rng = Mutex::new(StdRng::seed_from_u64(config.seed));
        Self { inner, config, rng }
    }

    fn roll(&self, may_decline: bool) -> Fault {
        // A poisoned lock only means another call panicked mid-roll; the generator is fine.
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        let x: f64 = rng.random();
        let c = &self.config;
        if may_decline && x < c.decline {
            return Fault::Decline;
        }
        let x: f64 = rng.random();
        if x < c.timeout / 2.0 {
            Fault::LostRequest
        } else if x < c.timeout {
            Fault::LostReply
        } else if rng.random::<f64>() < c.duplicate {
            Fault::Duplicate
        } else {
            Fault::None
        }
    }

    async fn faulty<F>(&self, may_decline: bool, call: F) -> StepOutcome
    where
        F: Fn() -> BoxFuture<'static, StepOutcome>,
    {
        if self.config.slow_ms > 0 {
            tokio::time::sleep(Duration::from_millis(self.config.slow_ms)).await;
        }
        let timeout = || StepOutcome::Failed {
            error: "payment gateway timed out (injected)".into(),
        };
        match self.roll(may_decline) {
            Fault::None => call().await,
            Fault::Decline => StepOutcome::Refused {
                reason: "gateway_declined".into(),
            },
            Fault::LostRequest => timeout(),
            Fault::LostReply => {
                let _ = call().await;
                timeout()
            }
            Fault::Duplicate => {
                let _ = call().await;
                call().await
            }
        }
    }
}

impl<P: PaymentProvider + Clone + 'static> PaymentProvider for FaultyProvider<P> {
    fn authorize<'a>(
        &'a self,
        auth_id: &'a str,
        account_id: &'a str,
        amount: u64,
        currency: &'a str,
    ) -> BoxFuture<'a, StepOutcome> {
        let (inner, a, acc, cur) = (
            self.inner.clone(),
            auth_id.to_owned(),
            account_id.to_owned(),
            currency.to_owned(),
        );
        Box::pin(self.faulty(true, move || {
            let (inner, a, acc, cur) = (inner.clone(), a.clone(), acc.clone(), cur.clone());
            Box::pin(async move { inner.authorize(&a, &acc, amount, &cur).await })
        }))
    }

    fn capture<'a>(&'a self, auth_id: &'a str, account_id: &'a str) -> BoxFuture<'a, StepOutcome> {
        let (inner, a, acc) = (
            self.inner.clone(),
            auth_id.to_owned(),
            account_id.to_owned(),
        );
        Box::pin(self.faulty(false, move || {
            let (inner, a, acc) = (inner.clone(), a.clone(), acc.clone());
            Box::pin(async move { inner.capture(&a, &acc).await })
        }))
    }

    fn void<'a>(&'a self, auth_id: &'a str, account_id: &'a str) -> BoxFuture<'a, StepOutcome> {
        let (inner, a, acc) = (
            self.inner.clone(),
            auth_id.to_owned(),
            account_id.to_owned(),
        );
        Box::pin(self.faulty(false, move || {
            let (inner, a, acc) = (inner.clone(), a.clone(), acc.clone());
            Box::pin(async move { inner.void(&a, &acc).await })
        }))
    }
}

impl Clone for LedgerProvider {
    fn clone(&self) -> Self {
        Self {
            client: self.client.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_specs_parse_and_reject_nonsense() {
        let c = FaultConfig::parse("decline=0.1, timeout=0.05,duplicate=0.2,slow_ms=20,seed=7")
            .unwrap();
        assert_eq!(c.decline, 0.1);
        assert_eq!(c.timeout, 0.05);
        assert_eq!(c.duplicate, 0.2);
        assert_eq!(c.slow_ms, 20);
        assert_eq!(c.seed, 7);
        assert_eq!(FaultConfig::parse("").unwrap(), FaultConfig::default());
        assert!(FaultConfig::parse("decline=2").is_err());
        assert!(FaultConfig::parse("decline").is_err());
        assert!(FaultConfig::parse("explode=1").is_err());
    }
}
