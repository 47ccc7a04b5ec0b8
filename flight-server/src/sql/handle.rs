//! Statement handles: what a Flight SQL ticket carries so that any replica
//! can run it — the caller, the SQL, the partition and an expiry, signed.

use serde::{Deserialize, Serialize};

use crate::ticket::{TicketCodec, TicketError};

/// Prefix of signed statement handles (format version 1).
pub const HANDLE_PREFIX: &str = "lks1.";

/// What a statement handle asserts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatementHandle {
    /// Principal the handle was issued to.
    pub sub: String,
    /// The query.
    pub sql: String,
    /// Partition to execute; `None` means all partitions merged.
    pub partition: Option<u32>,
    /// Partition count of the plan the handle was cut from.
    pub partitions: u32,
    /// Bound parameter values (base64 Arrow IPC of one row), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<String>,
    /// Expiry, Unix seconds.
    pub exp: u64,
}

impl StatementHandle {
    /// Signs the handle.
    pub fn sign(&self, codec: &TicketCodec) -> Vec<u8> {
        codec.sign_with_prefix(HANDLE_PREFIX, self)
    }

    /// Verifies a handle for `principal` at `now` (Unix seconds).
    pub fn verify(
        codec: &TicketCodec,
        bytes: &[u8],
        principal: &str,
        now: u64,
    ) -> Result<Self, TicketError> {
        let handle: Self = codec.verify_with_prefix(HANDLE_PREFIX, bytes)?;
        if handle.exp < now {
            return Err(TicketError::Expired);
        }
        if handle.sub != principal {
            return Err(TicketError::WrongPrincipal);
        }
        Ok(handle)
    }
}

/// Prefix of signed prepared-statement handles (format version 1).
pub const PREPARED_PREFIX: &str = "lkp1.";

/// A prepared statement: its SQL and bound parameters, signed, so that any
/// replica can run it and nothing is kept between calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreparedHandle {
    /// Principal the handle was issued to.
    pub sub: String,
    /// The query, possibly with `$1`-style placeholders.
    pub sql: String,
    /// Bound parameter values (base64 Arrow IPC of one row), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<String>,
    /// Expiry, Unix seconds.
    pub exp: u64,
}

impl PreparedHandle {
    /// Signs the handle.
    pub fn sign(&self, codec: &TicketCodec) -> Vec<u8> {
        codec.sign_with_prefix(PREPARED_PREFIX, self)
    }

    /// Verifies a handle for `principal` at `now` (Unix seconds).
    pub fn verify(
        codec: &TicketCodec,
        bytes: &[u8],
        principal: &str,
        now: u64,
    ) -> Result<Self, TicketError> {
        let handle: Self = codec.verify_with_prefix(PREPARED_PREFIX, bytes)?;
        if handle.exp < now {
            return Err(TicketError::Expired);
        }
        if handle.sub != principal {
            return Err(TicketError::WrongPrincipal);
        }
        Ok(handle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_signed_and_bound() {
        let codec = TicketCodec::new(&[5u8; 32]);
        let h = StatementHandle {
            sub: "demo".into(),
            sql: "SELECT 1".into(),
            partition: Some(0),
            partitions: 1,
            params: None,
            exp: 2_000_000_000,
        };
        let bytes = h.sign(&codec);
        assert_eq!(
            StatementHandle::verify(&codec, &bytes, "demo", 0).unwrap(),
            h
        );
        assert_eq!(
            StatementHandle::verify(&codec, &bytes, "eve", 0),
            Err(TicketError::WrongPrincipal)
        );
        // A download ticket never passes as a statement handle.
        let mut forged = bytes.clone();
        forged[2] = b't';
        assert!(StatementHandle::verify(&codec, &forged, "demo", 0).is_err());
        let other = TicketCodec::new(&[6u8; 32]);
        assert_eq!(
            StatementHandle::verify(&other, &bytes, "demo", 0),
            Err(TicketError::BadSignature)
        );
    }
}
