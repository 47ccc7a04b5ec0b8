//! DoGet tickets: download claims signed by [`crate::signed`], so any
//! replica can serve them and no server state is kept between
//! GetFlightInfo and DoGet.
//!
//! A signed ticket is `lkt1.<base64url(claims JSON)>.<base64url(HMAC-SHA256)>`.
//! A ticket that starts with `{` is a raw JSON download spec instead (handy
//! from a notebook); it is authorised and planned like a GetFlightInfo.

use laker_query::DownloadSpec;
use serde::{Deserialize, Serialize};

use crate::signed::{MAX_SIGNED_BYTES, SignedError, Signer, impl_claims};

/// Prefix of signed tickets (format version 1).
pub const SIGNED_PREFIX: &str = "lkt1.";

/// The codec of tickets: the server's [`Signer`] (which signs statement
/// handles too, each kind under its own prefix).
pub type TicketCodec = Signer;

/// What a signed ticket asserts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketClaims {
    /// Principal the ticket was issued to.
    pub sub: String,
    /// The download spec, as validated at GetFlightInfo.
    pub spec: DownloadSpec,
    /// Partition to execute; `None` means all partitions merged.
    pub partition: Option<u32>,
    /// Partition count of the plan the ticket was cut from.
    pub partitions: u32,
    /// Dataset revision the plan was made for.
    pub revision: i64,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// When the ticket was issued, Unix epoch milliseconds: a ticket cut
    /// before its principal's tokens were revoked (logout) is refused.
    #[serde(default)]
    pub iat_ms: i64,
}

impl_claims!(TicketClaims, SIGNED_PREFIX);

/// The current time in Unix epoch milliseconds (the `iat_ms` of new claims).
pub use laker_auth::token::unix_now_ms as now_ms;

/// A decoded ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ticket {
    /// A ticket this server signed.
    Signed(TicketClaims),
    /// A raw JSON download spec.
    Spec(DownloadSpec),
}

/// Why a ticket was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    /// A signed ticket (or neither kind) refused by the codec.
    #[error(transparent)]
    Signed(#[from] SignedError),
    /// The JSON spec ticket is invalid.
    #[error("{0}")]
    InvalidSpec(String),
}

impl Ticket {
    /// Decodes a ticket; signed tickets are verified for signature, expiry
    /// (against `now`, Unix seconds) and principal.
    pub fn decode(
        codec: &TicketCodec,
        bytes: &[u8],
        principal: &str,
        now: u64,
    ) -> Result<Self, TicketError> {
        if bytes.len() > MAX_SIGNED_BYTES {
            return Err(SignedError::Malformed("too large".into()).into());
        }
        let trimmed = bytes.trim_ascii_start();
        if trimmed.starts_with(b"{") {
            return DownloadSpec::from_json(trimmed)
                .map(Ticket::Spec)
                .map_err(|e| TicketError::InvalidSpec(e.to_string()));
        }
        if !bytes.starts_with(SIGNED_PREFIX.as_bytes()) {
            return Err(SignedError::Malformed(
                "expected a ticket from GetFlightInfo or a JSON download spec".into(),
            )
            .into());
        }
        Ok(Ticket::Signed(codec.verify(bytes, principal, now)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> TicketClaims {
        TicketClaims {
            sub: "demo".into(),
            spec: DownloadSpec::from_json(br#"{"dataset":"demo.trips","limit":5}"#).unwrap(),
            partition: Some(2),
            partitions: 4,
            revision: 1,
            exp: 2_000_000_000,
            iat_ms: 1_700_000_000_000,
        }
    }

    fn codec() -> TicketCodec {
        TicketCodec::new(&[3u8; 32])
    }

    #[test]
    fn round_trip() {
        let t = codec().sign(&claims());
        assert!(t.starts_with(SIGNED_PREFIX.as_bytes()));
        assert_eq!(
            Ticket::decode(&codec(), &t, "demo", 1_000).unwrap(),
            Ticket::Signed(claims())
        );
    }

    #[test]
    fn tickets_of_a_rotated_secret_verify_until_it_is_dropped() {
        let old = TicketCodec::new(&[3u8; 32]).sign(&claims());
        let rotated = TicketCodec::new(&[9u8; 32]).with_previous_secrets([[3u8; 32].as_slice()]);
        assert_eq!(
            Ticket::decode(&rotated, &old, "demo", 1_000).unwrap(),
            Ticket::Signed(claims())
        );
        let fresh = rotated.sign(&claims());
        assert_eq!(
            Ticket::decode(&codec(), &fresh, "demo", 1_000),
            Err(TicketError::Signed(SignedError::BadSignature)),
            "new tickets are signed with the new secret"
        );
        assert_eq!(
            Ticket::decode(&TicketCodec::new(&[9u8; 32]), &old, "demo", 1_000),
            Err(TicketError::Signed(SignedError::BadSignature))
        );
    }

    #[test]
    fn json_spec_ticket() {
        let t = Ticket::decode(&codec(), br#"  {"dataset":"demo.zones"}"#, "anyone", 0).unwrap();
        assert!(matches!(t, Ticket::Spec(s) if s.dataset == "demo.zones"));
        let err =
            Ticket::decode(&codec(), br#"{"dataset":"demo.zones","x":1}"#, "a", 0).unwrap_err();
        assert!(matches!(err, TicketError::InvalidSpec(m) if m.contains("unknown field `x`")));
    }

    #[test]
    fn refusals() {
        let c = codec();
        let t = c.sign(&claims());
        assert_eq!(
            Ticket::decode(&c, &t, "demo", 2_000_000_001),
            Err(TicketError::Signed(SignedError::Expired))
        );
        assert_eq!(
            Ticket::decode(&c, &t, "eve", 0),
            Err(TicketError::Signed(SignedError::WrongPrincipal))
        );
        assert_eq!(
            Ticket::decode(&TicketCodec::new(&[4u8; 32]), &t, "demo", 0),
            Err(TicketError::Signed(SignedError::BadSignature))
        );
        // Tamper with the payload: sign claims for eve, splice eve's payload onto demo's tag.
        let mut forged = claims();
        forged.sub = "eve".into();
        let other = c.sign(&forged);
        let other = String::from_utf8(other).unwrap();
        let orig = String::from_utf8(t).unwrap();
        let spliced = format!(
            "{}.{}",
            other.rsplit_once('.').unwrap().0,
            orig.rsplit_once('.').unwrap().1
        );
        assert_eq!(
            Ticket::decode(&c, spliced.as_bytes(), "eve", 0),
            Err(TicketError::Signed(SignedError::BadSignature))
        );
        assert!(matches!(
            Ticket::decode(&c, b"garbage", "demo", 0),
            Err(TicketError::Signed(SignedError::Malformed(_)))
        ));
        assert_eq!(
            Ticket::decode(&c, b"lkt1.abc", "demo", 0),
            Err(TicketError::Signed(SignedError::BadSignature))
        );
    }
}
