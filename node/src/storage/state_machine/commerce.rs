//! Applying inventory, payment and saga commands: the thin layer between the pure ledgers /
//! saga machine and the shard's RocksDB batch.
//!
//! Every function reads the records the pure core needs, runs it, and on success writes the
//! whole effect into the entry's batch (record, audit event, indexes); on a refusal it writes
//! nothing and returns the typed error as data (`Ok(Err(..))`). `io::Error` is a storage
//! failure: the entry's batch is discarded.

use std::io;

use rocksdb::WriteBatch;

use super::ShardStateMachine;
use crate::inventory;
use crate::inventory::Reservation;
use crate::inventory::ReservationState;
use crate::inventory::StockBucket;
use crate::inventory::StockOp;
use crate::order;
use crate::order::NewOrder;
use crate::order::Order;
use crate::payments;
use crate::payments::Account;
use crate::payments::Authorization;
use crate::payments::PaymentOp;
use crate::saga;
use crate::saga::PurchaseSaga;
use crate::saga::PurchaseSpec;
use crate::saga::SagaInput;
use crate::storage::keys;
use crate::types::CommandError;
use crate::types::ShardResponse;

type Applied = io::Result<Result<ShardResponse, CommandError>>;

impl ShardStateMachine {
    pub(super) fn saga(&self, saga_id: &str) -> io::Result<Option<PurchaseSaga>> {
        self.engine.get(
            self.shard,
            keys::CF_STATE,
            &keys::saga_key(self.shard, saga_id),
        )
    }

    pub(super) fn apply_stock(
        &self,
        sku: &str,
        bucket_no: u32,
        op: &StockOp,
        now_ms: u64,
        batch: &mut WriteBatch,
    ) -> Applied {
        let bucket_key = keys::stock_key(self.shard, sku, bucket_no);
        let bucket: Option<StockBucket> =
            self.engine.get(self.shard, keys::CF_STATE, &bucket_key)?;
        let reservation: Option<Reservation> = match op.record_id() {
            Some(id) => self.engine.get(
                self.shard,
                keys::CF_STATE,
                &keys::reservation_key(self.shard, sku, bucket_no, id),
            )?,
            None => None,
        };
        let change = match inventory::apply(
            bucket.as_ref(),
            reservation.as_ref(),
            sku,
            bucket_no,
            op,
            now_ms,
            &self.config.stock_limits,
        ) {
            Ok(c) => c,
            Err(e) => return Ok(Err(e.into())),
        };
        if let Some(event) = &change.event {
            self.put(batch, keys::CF_STATE, bucket_key, &change.bucket)?;
            self.put(
                batch,
                keys::CF_STATE,
                keys::stock_event_key(self.shard, sku, bucket_no, event.sequence),
                event,
            )?;
            if let Some(r) = &change.reservation {
                self.put(
                    batch,
                    keys::CF_STATE,
                    keys::reservation_key(self.shard, sku, bucket_no, &r.reservation_id),
                    r,
                )?;
                self.index_reservation_expiry(reservation.as_ref(), r, batch);
            }
        }
        Ok(Ok(ShardResponse::Stock {
            bucket: change.bucket,
            reply: change.reply,
        }))
    }

    /// Keeps the expiry index equal to the set of `Held` reservations: adds the new record's
    /// entry when it is held, removes the old one's when it no longer is (or moved).
    fn index_reservation_expiry(
        &self,
        before: Option<&Reservation>,
        after: &Reservation,
        batch: &mut WriteBatch,
    ) {
        let cf = self.engine.cf(keys::CF_STATE);
        let entry = |r: &Reservation| {
            keys::reservation_expiry_key(
                self.shard,
                r.expires_at_ms,
                &r.sku,
                r.bucket,
                &r.reservation_id,
            )
        };
        if let Some(old) = before.filter(|r| r.state == ReservationState::Held) {
            batch.delete_cf(cf, entry(old));
        }
        if after.state == ReservationState::Held {
            let key = entry(after);
            let value = super::codec::frame(&key, &[]);
            batch.put_cf(cf, key, value);
        }
    }

    pub(super) fn apply_payment(
        &self,
        account_id: &str,
        op: &PaymentOp,
        now_ms: u64,
        batch: &mut WriteBatch,
    ) -> Applied {
        let account_key = keys::account_key(self.shard, account_id);
        let account: Option<Account> = self.engine.get(self.shard, keys::CF_STATE, &account_key)?;
        let authorization: Option<Authorization> = match op.auth_id() {
            Some(id) => self.engine.get(
                self.shard,
                keys::CF_STATE,
                &keys::authorization_key(self.shard, account_id, id),
            )?,
            None => None,
        };
        let change = match payments::apply(
            account.as_ref(),
            authorization.as_ref(),
            account_id,
            op,
            now_ms,
            &self.config.payment_limits,
        ) {
            Ok(c) => c,
            Err(e) => return Ok(Err(e.into())),
        };
        if let Some(event) = &change.event {
            self.put(batch, keys::CF_STATE, account_key, &change.account)?;
            self.put(
                batch,
                keys::CF_STATE,
                keys::payment_event_key(self.shard, account_id, event.sequence),
                event,
            )?;
            if let Some(a) = &change.authorization {
                self.put(
                    batch,
                    keys::CF_STATE,
                    keys::authorization_key(self.shard, account_id, &a.auth_id),
                    a,
                )?;
            }
        }
        Ok(Ok(ShardResponse::Payment {
            account: change.account,
            reply: change.reply,
        }))
    }

    /// `StartPurchase`: the order (placed) and its saga (running, timer set) in this entry.
    pub(super) fn start_purchase(
        &self,
        index: u64,
        new: &NewOrder,
        spec: &PurchaseSpec,
        now_ms: u64,
        batch: &mut WriteBatch,
    ) -> Applied {
        if self.exists(&keys::order_key(self.shard, &new.order_id))? {
            return Ok(Err(CommandError::AlreadyExists {
                order_id: new.order_id.clone(),
            }));
        }
        let (order, event) = match order::place(new, &self.config.limits, now_ms) {
            Ok(placed) => placed,
            Err(e) => return Ok(Err(e.into())),
        };
        let saga = match saga::start(&order.order_id, &order.currency, order.total, spec, now_ms) {
            Ok(s) => s,
            Err(e) => return Ok(Err(e.into())),
        };
        self.write_change(index, &order, &event, batch)?;
        self.write_saga(&saga, batch)?;
        Ok(Ok(ShardResponse::Purchase {
            order,
            saga,
            replayed: false,
        }))
    }

    /// `Saga`: folds `input` into the saga and applies the order commands it yields, in this
    /// entry. An order command the order machine refuses is logged and skipped: the saga's
    /// record is the authority on payment and stock (the conflict matrix keeps clients from
    /// making the two disagree).
    pub(super) fn apply_saga(
        &self,
        index: u64,
        saga_id: &str,
        input: &SagaInput,
        now_ms: u64,
        batch: &mut WriteBatch,
    ) -> Applied {
        let Some(current) = self.saga(saga_id)? else {
            return Ok(Err(CommandError::SagaNotFound {
                saga_id: saga_id.to_owned(),
            }));
        };
        let order_key = keys::order_key(self.shard, &current.order_id);
        let Some(mut order) = self
            .engine
            .get::<Order>(self.shard, keys::CF_STATE, &order_key)?
        else {
            return Ok(Err(CommandError::NotFound {
                order_id: current.order_id.clone(),
            }));
        };
        let change = match saga::apply(&current, input, now_ms, &self.config.retry_policy) {
            Ok(c) => c,
            Err(e) => return Ok(Err(e.into())),
        };
        if !change.changed {
            return Ok(Ok(ShardResponse::Purchase {
                order,
                saga: current,
                replayed: true,
            }));
        }
        // Each order command is its own order event (sequence = version), all in this entry.
        let mut n = 0u32;
        for cmd in &change.order_commands {
            match order::apply(&order, cmd, None, now_ms) {
                Ok((next, event)) => {
                    self.write_order_event(index, n, &next, &event, batch)?;
                    n += 1;
                    order = next;
                }
                Err(e) => tracing::warn!(
                    shard = self.shard,
                    saga = saga_id,
                    command = cmd.name(),
                    error = %e,
                    "saga order command refused by the order machine"
                ),
            }
        }
        if n > 0 {
            self.put(batch, keys::CF_STATE, order_key, &order)?;
        }
        self.write_saga(&change.saga, batch)?;
        Ok(Ok(ShardResponse::Purchase {
            order,
            saga: change.saga,
            replayed: false,
        }))
    }

    fn write_saga(&self, saga: &PurchaseSaga, batch: &mut WriteBatch) -> io::Result<()> {
        self.put(
            batch,
            keys::CF_STATE,
            keys::saga_key(self.shard, &saga.saga_id),
            saga,
        )?;
        let open = keys::saga_open_key(self.shard, &saga.saga_id);
        let cf = self.engine.cf(keys::CF_STATE);
        if saga.status.is_terminal() {
            batch.delete_cf(cf, open);
        } else {
            let value = super::codec::frame(&open, &[]);
            batch.put_cf(cf, open, value);
        }
        Ok(())
    }
}
