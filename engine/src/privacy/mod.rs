//! Personal data sealed per data subject, so that erasure (destroying the subject's key)
//! removes it everywhere at once while every Merkle proof stays valid (docs/PRIVACY.md).
//! [`Kek`] is the key-encryption key kept outside the data directory; [`SubjectKeys`] the
//! key store of the subjects' keys, wrapped under it, with the blind index of their
//! e-mail addresses; [`Sealed`] one event's [`Personal`] fields sealed under its
//! subject's key.

mod fingerprint;
mod kek;
mod keystore;
mod opened;
mod receipt;
mod seal;
mod sealer;

pub use kek::Kek;
pub use keystore::{Erasure, SUBJECT_KEYS_FILE, SubjectKey, SubjectKeys, Unsynced};
pub(crate) use opened::with_personal;
pub use opened::{ERASED, SEALED, UNAVAILABLE};
pub use receipt::{ErasureReceipt, ReceiptError};
pub(crate) use seal::Unsealed;
pub use seal::{
    Fields, MAX_FIELD_NAME_BYTES, MAX_PERSONAL_FIELDS, Personal, SealError, Sealed, merge_metadata,
    split_metadata,
};
pub(crate) use sealer::Sealer;
