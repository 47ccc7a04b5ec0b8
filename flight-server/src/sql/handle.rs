//! Statement and prepared-statement handles: what a Flight SQL ticket or
//! prepared statement carries so that any replica can run it — the caller,
//! the SQL, the partition and an expiry — signed by [`crate::signed`].

use serde::{Deserialize, Serialize};

use crate::signed::impl_claims;

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
    /// Issue time, Unix epoch milliseconds (refused once the principal's
    /// tokens are revoked after it).
    #[serde(default)]
    pub iat_ms: i64,
}

impl_claims!(StatementHandle, HANDLE_PREFIX);

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
    /// Issue time, Unix epoch milliseconds.
    #[serde(default)]
    pub iat_ms: i64,
}

impl_claims!(PreparedHandle, PREPARED_PREFIX);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signed::{SignedError, Signer};
    use crate::ticket::TicketClaims;

    #[test]
    fn handles_are_signed_and_bound() {
        let codec = Signer::new(&[5u8; 32]);
        let h = StatementHandle {
            sub: "demo".into(),
            sql: "SELECT 1".into(),
            partition: Some(0),
            partitions: 1,
            params: None,
            exp: 2_000_000_000,
            iat_ms: 0,
        };
        let bytes = codec.sign(&h);
        assert!(bytes.starts_with(HANDLE_PREFIX.as_bytes()));
        assert_eq!(codec.verify::<StatementHandle>(&bytes, "demo", 0), Ok(h));
        assert_eq!(
            codec.verify::<StatementHandle>(&bytes, "eve", 0),
            Err(SignedError::WrongPrincipal)
        );
        // Neither a download ticket nor a prepared handle passes as a
        // statement handle, nor the other way round.
        let mut forged = bytes.clone();
        forged[2] = b't';
        assert!(codec.verify::<TicketClaims>(&forged, "demo", 0).is_err());
        assert!(codec.verify::<StatementHandle>(&forged, "demo", 0).is_err());
        assert!(codec.verify::<PreparedHandle>(&bytes, "demo", 0).is_err());
        let other = Signer::new(&[6u8; 32]);
        assert_eq!(
            other.verify::<StatementHandle>(&bytes, "demo", 0),
            Err(SignedError::BadSignature)
        );
    }

    #[test]
    fn prepared_handles_round_trip() {
        let codec = Signer::new(&[5u8; 32]);
        let h = PreparedHandle {
            sub: "demo".into(),
            sql: "SELECT $1".into(),
            params: Some("AAAA".into()),
            exp: 2_000_000_000,
            iat_ms: 5,
        };
        let bytes = codec.sign(&h);
        assert!(bytes.starts_with(PREPARED_PREFIX.as_bytes()));
        assert_eq!(codec.verify::<PreparedHandle>(&bytes, "demo", 0), Ok(h));
        assert!(codec.verify::<StatementHandle>(&bytes, "demo", 0).is_err());
    }
}
