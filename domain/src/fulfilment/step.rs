//! The steps an instance takes: each is a command it issues, and each
//! declares in its type what undoes it (`Step::Compensation`), or
//! [`NoCompensation`]. [`Command`] is generated from the list of steps and
//! dispatches through the trait, so a step added without saying how it is
//! compensated does not compile.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::ids::{OrderId, PaymentId, RefundId, Sku};
use crate::money::Money;

/// Deterministic id of whatever `key` names (a step of an instance, an
/// instance event, a deadline): the first 16 bytes of SHA-256 over it, as
/// a UUIDv8. The same key always gives the same id, in any process, so a
/// repeated step is recognised by whoever receives it.
pub fn deterministic_id(key: &str) -> Uuid {
    let digest = Sha256::digest(key.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// A step of the process: a command with a stable name and a declared
/// compensation.
pub trait Step {
    /// Names the step in its deterministic id; never change it, or
    /// in-flight instances would issue their steps again under new ids.
    const NAME: &'static str;
    /// What undoes this step when a later one fails: another step, or
    /// [`NoCompensation`].
    type Compensation: IntoCommand;
    /// The compensating step for this one.
    fn compensation(&self) -> Self::Compensation;
    /// What tells two steps of the same name apart within an instance
    /// (the SKU for stock steps).
    fn discriminator(&self) -> &str {
        ""
    }
}

/// A step needs no compensation; `why` says why (kept in the type so a
/// reader of the step sees the decision next to it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoCompensation {
    pub why: &'static str,
}

/// A compensation, as the command to issue (if any).
pub trait IntoCommand {
    fn into_command(self) -> Option<Command>;
}

impl IntoCommand for NoCompensation {
    fn into_command(self) -> Option<Command> {
        None
    }
}

/// Reserve `quantity` of `sku` for the order (inventory `Reserve`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReserveStock {
    pub sku: Sku,
    pub quantity: u32,
}

/// Give back what the order reserved of `sku` (inventory `Release`; a
/// release of nothing reserved is a no-op there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseStock {
    pub sku: Sku,
}

/// The order's reservation of `sku` leaves the shelf (inventory `Commit`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitStock {
    pub sku: Sku,
}

/// Accept the order (order `ConfirmOrder`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmOrder;

/// Refuse the order (order `RejectOrder`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectOrder {
    pub reason: String,
}

/// Call the order off (order `CancelOrder`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelOrder {
    pub reason: String,
}

/// Ask the payment provider to pay `amount` back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRefund {
    pub refund_id: RefundId,
    pub payment_id: Option<PaymentId>,
    pub amount: Money,
}

/// Record the provider's refund on the order (order `IssueRefund`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordRefund {
    pub refund_id: RefundId,
    pub amount: Money,
    pub reason: String,
}

impl Step for ReserveStock {
    const NAME: &'static str = "reserve";
    type Compensation = ReleaseStock;
    fn compensation(&self) -> ReleaseStock {
        ReleaseStock {
            sku: self.sku.clone(),
        }
    }
    fn discriminator(&self) -> &str {
        self.sku.as_str()
    }
}

impl Step for ReleaseStock {
    const NAME: &'static str = "release";
    type Compensation = NoCompensation;
    fn compensation(&self) -> NoCompensation {
        NoCompensation {
            why: "it is itself a compensation",
        }
    }
    fn discriminator(&self) -> &str {
        self.sku.as_str()
    }
}

impl Step for CommitStock {
    const NAME: &'static str = "commit";
    type Compensation = NoCompensation;
    fn compensation(&self) -> NoCompensation {
        NoCompensation {
            why: "goods handed to a carrier are not put back by the saga",
        }
    }
    fn discriminator(&self) -> &str {
        self.sku.as_str()
    }
}

impl Step for ConfirmOrder {
    const NAME: &'static str = "confirm";
    type Compensation = CancelOrder;
    fn compensation(&self) -> CancelOrder {
        CancelOrder {
            reason: crate::fulfilment::PAYMENT_TIMEOUT.to_owned(),
        }
    }
}

impl Step for RejectOrder {
    const NAME: &'static str = "reject";
    type Compensation = NoCompensation;
    fn compensation(&self) -> NoCompensation {
        NoCompensation {
            why: "a rejected order is final",
        }
    }
}

impl Step for CancelOrder {
    const NAME: &'static str = "cancel";
    type Compensation = NoCompensation;
    fn compensation(&self) -> NoCompensation {
        NoCompensation {
            why: "a cancelled order is final",
        }
    }
}

impl Step for RequestRefund {
    const NAME: &'static str = "refund";
    type Compensation = NoCompensation;
    fn compensation(&self) -> NoCompensation {
        NoCompensation {
            why: "it compensates a payment; money paid back stays paid back",
        }
    }
}

impl Step for RecordRefund {
    const NAME: &'static str = "record-refund";
    type Compensation = NoCompensation;
    fn compensation(&self) -> NoCompensation {
        NoCompensation {
            why: "it records a fact of the provider",
        }
    }
}

/// Builds [`Command`] from the steps: every arm goes through [`Step`], so
/// a variant whose type lacks the impl (and so its compensation) fails.
macro_rules! commands {
    ($($variant:ident($step:ident)),+ $(,)?) => {
        /// A command an instance issues: one of its steps.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(tag = "step")]
        pub enum Command {
            $(
                #[doc = concat!("See [`", stringify!($step), "`].")]
                $variant($step),
            )+
        }

        $(
            impl IntoCommand for $step {
                fn into_command(self) -> Option<Command> {
                    Some(Command::$variant(self))
                }
            }
            impl From<$step> for Command {
                fn from(step: $step) -> Self {
                    Command::$variant(step)
                }
            }
        )+

        impl Command {
            /// The step's stable name.
            pub fn name(&self) -> &'static str {
                match self {
                    $(Command::$variant(_) => <$step as Step>::NAME,)+
                }
            }

            /// The compensating command, if the step has one.
            pub fn compensation(&self) -> Option<Command> {
                match self {
                    $(Command::$variant(step) => step.compensation().into_command(),)+
                }
            }

            fn discriminator(&self) -> &str {
                match self {
                    $(Command::$variant(step) => step.discriminator(),)+
                }
            }
        }
    };
}

commands! {
    Reserve(ReserveStock),
    Release(ReleaseStock),
    Commit(CommitStock),
    Confirm(ConfirmOrder),
    Reject(RejectOrder),
    Cancel(CancelOrder),
    RequestRefund(RequestRefund),
    RecordRefund(RecordRefund),
}

impl Command {
    /// The step's key within the instance of `order`:
    /// `fulfilment-<order>/<step>[/<sku>]`.
    pub fn key(&self, order: OrderId) -> String {
        let stream = crate::fulfilment::stream_id(order);
        match self.discriminator() {
            "" => format!("{stream}/{}", self.name()),
            d => format!("{stream}/{}/{d}", self.name()),
        }
    }

    /// The deterministic id of this step of `order`'s instance: the
    /// idempotency key (and event ids) of the command it issues.
    pub fn id(&self, order: OrderId) -> Uuid {
        deterministic_id(&self.key(order))
    }
}
