//! `PaymentService`: the built-in ledger provider. Each account lives on the shard owning
//! `acct/<id>`; authorizations are deduplicated by their id (the saga id).

use std::sync::Arc;

use orderstore_proto::v1 as pb;
use orderstore_proto::v1::payment_service_server::PaymentService;

use super::access::ShardAccess;
use super::access::fingerprint;
use super::access::now_ms;
use super::access::observed;
use super::commerce_convert as conv;
use super::error::ApiError;
use crate::host::ShardHost;
use crate::order::ValidationError;
use crate::payments;
use crate::payments::Account;
use crate::payments::PaymentLimits;
use crate::payments::PaymentOp;
use crate::payments::PaymentReply;
use crate::types::CommandError;
use crate::types::IdempotencyTag;
use crate::types::ShardCommand;
use crate::types::ShardResponse;

/// The payment API of one node.
pub struct PaymentApi {
    access: ShardAccess,
    limits: Arc<PaymentLimits>,
}

impl PaymentApi {
    pub fn new(host: ShardHost, limits: Arc<PaymentLimits>) -> Self {
        Self {
            access: ShardAccess::new(host),
            limits,
        }
    }

    async fn op(
        &self,
        account_id: &str,
        op: PaymentOp,
        idempotency: Option<IdempotencyTag>,
    ) -> Result<(Account, PaymentReply), ApiError> {
        payments::validate_op(account_id, &op, &self.limits)
            .map_err(|e| ApiError::from(CommandError::from(e)))?;
        let shard = self
            .access
            .route(&shard_router::account_route_key(account_id))?;
        let cmd = ShardCommand::Payment {
            account_id: account_id.to_owned(),
            op,
            idempotency,
            now_ms: now_ms(),
        };
        match self.access.propose(&shard, cmd).await? {
            ShardResponse::Payment { account, reply } => Ok((account, reply)),
            other => Err(ApiError::Internal(format!("unexpected reply {other:?}"))),
        }
    }

    fn tag<M: prost::Message>(key: &str, req: &M) -> Option<IdempotencyTag> {
        (!key.is_empty()).then(|| IdempotencyTag {
            key: key.to_owned(),
            fingerprint: fingerprint(req),
        })
    }

    async fn get_account(&self, req: pb::GetAccountRequest) -> Result<pb::AccountReply, ApiError> {
        let probe = PaymentOp::Credit { amount: 1 };
        payments::validate_op(&req.account_id, &probe, &self.limits)
            .map_err(|e| ApiError::from(CommandError::from(e)))?;
        let shard = self
            .access
            .route(&shard_router::account_route_key(&req.account_id))?;
        if req.consistency() == pb::ReadConsistency::Linearizable {
            self.access.read_barrier(&shard).await?;
        }
        let id = req.account_id.clone();
        let account = self.access.read(&shard, move |r| r.account(&id)).await?;
        let account = account.ok_or_else(|| {
            ApiError::from(CommandError::from(payments::PaymentError::UnknownAccount {
                account_id: req.account_id.clone(),
            }))
        })?;
        Ok(pb::AccountReply {
            account: Some(conv::account_to_pb(&account)),
        })
    }

    async fn payment(&self, req: pb::PaymentRequest) -> Result<pb::PaymentReply, ApiError> {
        let auth_id = req.auth_id.clone();
        let op = match pb::PaymentOpKind::try_from(req.op)
            .unwrap_or(pb::PaymentOpKind::PaymentOpUnspecified)
        {
            pb::PaymentOpKind::PaymentAuthorize => PaymentOp::Authorize {
                auth_id,
                amount: req.amount,
                currency: req.currency.clone(),
            },
            pb::PaymentOpKind::PaymentCapture => PaymentOp::Capture { auth_id },
            pb::PaymentOpKind::PaymentVoid => PaymentOp::Void { auth_id },
            pb::PaymentOpKind::PaymentRefund => PaymentOp::Refund {
                auth_id,
                amount: req.amount,
            },
            pb::PaymentOpKind::PaymentOpUnspecified => {
                return Err(ValidationError::new("op", "unknown or missing payment op").into());
            }
        };
        let (account, reply) = self.op(&req.account_id, op, None).await?;
        let (outcome, authorization) = conv::payment_outcome(&reply);
        Ok(pb::PaymentReply {
            outcome: outcome.to_owned(),
            authorization,
            account: Some(conv::account_to_pb(&account)),
        })
    }
}

#[tonic::async_trait]
impl PaymentService for PaymentApi {
    async fn create_account(
        &self,
        r: tonic::Request<pb::CreateAccountRequest>,
    ) -> Result<tonic::Response<pb::AccountReply>, tonic::Status> {
        let req = r.into_inner();
        observed(self.access.host(), "CreateAccount", async {
            let tag = Self::tag(&req.idempotency_key, &req);
            let op = PaymentOp::Open {
                currency: req.currency.clone(),
                initial_credit: req.initial_credit,
            };
            let (account, _) = self.op(&req.account_id, op, tag).await?;
            Ok(pb::AccountReply {
                account: Some(conv::account_to_pb(&account)),
            })
        })
        .await
    }

    async fn credit_account(
        &self,
        r: tonic::Request<pb::CreditAccountRequest>,
    ) -> Result<tonic::Response<pb::AccountReply>, tonic::Status> {
        let req = r.into_inner();
        observed(self.access.host(), "CreditAccount", async {
            let tag = Self::tag(&req.idempotency_key, &req);
            let op = PaymentOp::Credit { amount: req.amount };
            let (account, _) = self.op(&req.account_id, op, tag).await?;
            Ok(pb::AccountReply {
                account: Some(conv::account_to_pb(&account)),
            })
        })
        .await
    }

    async fn get_account(
        &self,
        r: tonic::Request<pb::GetAccountRequest>,
    ) -> Result<tonic::Response<pb::AccountReply>, tonic::Status> {
        observed(
            self.access.host(),
            "GetAccount",
            self.get_account(r.into_inner()),
        )
        .await
    }

    async fn payment(
        &self,
        r: tonic::Request<pb::PaymentRequest>,
    ) -> Result<tonic::Response<pb::PaymentReply>, tonic::Status> {
        observed(self.access.host(), "Payment", self.payment(r.into_inner())).await
    }
}
