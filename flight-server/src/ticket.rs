//! DoGet tickets: self-contained and HMAC-signed, so any replica can serve
//! them and no server state is kept between GetFlightInfo and DoGet.
//!
//! A signed ticket is `lkt1.<base64url(claims JSON)>.<base64url(HMAC-SHA256)>`.
//! A ticket that starts with `{` is a raw JSON download spec instead (handy
//! from a notebook); it is authorised and planned like a GetFlightInfo.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use laker_query::DownloadSpec;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Prefix of signed tickets (format version 1).
pub const SIGNED_PREFIX: &str = "lkt1.";

/// Largest accepted ticket.
const MAX_TICKET_BYTES: usize = 2 << 20;

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
}

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
    /// Neither a signed ticket nor a JSON spec, or garbled.
    #[error("ticket is malformed: {0}")]
    Malformed(String),
    /// The signature does not match: forged or tampered.
    #[error("ticket signature is invalid")]
    BadSignature,
    /// Past its expiry.
    #[error("ticket has expired; call GetFlightInfo again")]
    Expired,
    /// Issued to someone else.
    #[error("ticket was issued to another principal")]
    WrongPrincipal,
    /// The JSON spec ticket is invalid.
    #[error("{0}")]
    InvalidSpec(String),
}

/// Signs and verifies tickets with a key derived from the server secret.
#[derive(Clone)]
pub struct TicketCodec {
    key: Vec<u8>,
    /// Keys derived from rotated-out secrets: their tickets still verify.
    previous: Vec<Vec<u8>>,
}

impl std::fmt::Debug for TicketCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketCodec").finish_non_exhaustive()
    }
}

impl TicketCodec {
    /// A codec keyed by `secret` (the token secret; a separate key is derived
    /// so a ticket can never pass as a token or the other way round).
    pub fn new(secret: &[u8]) -> Self {
        let key = mac(secret, b"laker ticket signing key v1");
        Self {
            key,
            previous: Vec::new(),
        }
    }

    /// Also accepts tickets signed with `previous` secrets (key rotation).
    pub fn with_previous_secrets<'a>(
        mut self,
        previous: impl IntoIterator<Item = &'a [u8]>,
    ) -> Self {
        self.previous = previous
            .into_iter()
            .map(|s| mac(s, b"laker ticket signing key v1"))
            .collect();
        self
    }

    /// The hash key for `hash` column masks, derived from the secret.
    pub fn mask_key(secret: &[u8]) -> String {
        mac(secret, b"laker column mask key v1")
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Encodes and signs `claims`.
    pub fn sign(&self, claims: &TicketClaims) -> Vec<u8> {
        self.sign_with_prefix(SIGNED_PREFIX, claims)
    }

    /// Decodes a ticket; signed tickets are verified for signature, expiry
    /// (against `now`, Unix seconds) and principal.
    pub fn decode(&self, bytes: &[u8], principal: &str, now: u64) -> Result<Ticket, TicketError> {
        if bytes.len() > MAX_TICKET_BYTES {
            return Err(TicketError::Malformed("too large".into()));
        }
        let trimmed = bytes.trim_ascii_start();
        if trimmed.starts_with(b"{") {
            return DownloadSpec::from_json(trimmed)
                .map(Ticket::Spec)
                .map_err(|e| TicketError::InvalidSpec(e.to_string()));
        }
        if !bytes.starts_with(SIGNED_PREFIX.as_bytes()) {
            return Err(TicketError::Malformed(
                "expected a ticket from GetFlightInfo or a JSON download spec".into(),
            ));
        }
        let claims = self.verify(bytes)?;
        if claims.exp < now {
            return Err(TicketError::Expired);
        }
        if claims.sub != principal {
            return Err(TicketError::WrongPrincipal);
        }
        Ok(Ticket::Signed(claims))
    }

    /// Signs any claims as `<prefix><base64url(JSON)>.<tag>`; the prefix is
    /// covered by the tag, so a token of one kind never passes as another.
    pub fn sign_with_prefix<T: Serialize>(&self, prefix: &str, claims: &T) -> Vec<u8> {
        let payload = serde_json::to_vec(claims).unwrap_or_default();
        let signed = format!("{prefix}{}", URL_SAFE_NO_PAD.encode(payload));
        let tag = URL_SAFE_NO_PAD.encode(mac(&self.key, signed.as_bytes()));
        format!("{signed}.{tag}").into_bytes()
    }

    /// Verifies bytes made by [`Self::sign_with_prefix`] with `prefix`.
    pub fn verify_with_prefix<T: serde::de::DeserializeOwned>(
        &self,
        prefix: &str,
        bytes: &[u8],
    ) -> Result<T, TicketError> {
        if bytes.len() > MAX_TICKET_BYTES || !bytes.starts_with(prefix.as_bytes()) {
            return Err(TicketError::Malformed("not a handle of this server".into()));
        }
        self.verify_as(prefix, bytes)
    }

    fn verify(&self, bytes: &[u8]) -> Result<TicketClaims, TicketError> {
        self.verify_as(SIGNED_PREFIX, bytes)
    }

    fn verify_as<T: serde::de::DeserializeOwned>(
        &self,
        prefix: &str,
        bytes: &[u8],
    ) -> Result<T, TicketError> {
        let text = std::str::from_utf8(bytes).map_err(|_| TicketError::BadSignature)?;
        let (signed, tag) = text.rsplit_once('.').ok_or(TicketError::BadSignature)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| TicketError::BadSignature)?;
        let valid = std::iter::once(&self.key).chain(&self.previous).any(|key| {
            HmacSha256::new_from_slice(key).is_ok_and(|mut m| {
                m.update(signed.as_bytes());
                // Constant-time comparison.
                m.verify_slice(&tag).is_ok()
            })
        });
        if !valid {
            return Err(TicketError::BadSignature);
        }
        let payload = signed
            .strip_prefix(prefix)
            .ok_or(TicketError::BadSignature)?;
        let json = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TicketError::Malformed("payload is not base64".into()))?;
        serde_json::from_slice(&json).map_err(|e| TicketError::Malformed(e.to_string()))
    }
}

fn mac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let Ok(mut m) = HmacSha256::new_from_slice(key) else {
        return Vec::new();
    };
    m.update(data);
    m.finalize().into_bytes().to_vec()
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
            codec().decode(&t, "demo", 1_000).unwrap(),
            Ticket::Signed(claims())
        );
    }

    #[test]
    fn tickets_of_a_rotated_secret_verify_until_it_is_dropped() {
        let old = TicketCodec::new(&[3u8; 32]).sign(&claims());
        let rotated = TicketCodec::new(&[9u8; 32]).with_previous_secrets([[3u8; 32].as_slice()]);
        assert_eq!(
            rotated.decode(&old, "demo", 1_000).unwrap(),
            Ticket::Signed(claims())
        );
        let fresh = rotated.sign(&claims());
        assert_eq!(
            codec().decode(&fresh, "demo", 1_000),
            Err(TicketError::BadSignature),
            "new tickets are signed with the new secret"
        );
        assert_eq!(
            TicketCodec::new(&[9u8; 32]).decode(&old, "demo", 1_000),
            Err(TicketError::BadSignature)
        );
    }

    #[test]
    fn json_spec_ticket() {
        let t = codec()
            .decode(br#"  {"dataset":"demo.zones"}"#, "anyone", 0)
            .unwrap();
        assert!(matches!(t, Ticket::Spec(s) if s.dataset == "demo.zones"));
        let err = codec()
            .decode(br#"{"dataset":"demo.zones","x":1}"#, "a", 0)
            .unwrap_err();
        assert!(matches!(err, TicketError::InvalidSpec(m) if m.contains("unknown field `x`")));
    }

    #[test]
    fn refusals() {
        let c = codec();
        let t = c.sign(&claims());
        assert_eq!(
            c.decode(&t, "demo", 2_000_000_001),
            Err(TicketError::Expired)
        );
        assert_eq!(c.decode(&t, "eve", 0), Err(TicketError::WrongPrincipal));
        assert_eq!(
            TicketCodec::new(&[4u8; 32]).decode(&t, "demo", 0),
            Err(TicketError::BadSignature)
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
            c.decode(spliced.as_bytes(), "eve", 0),
            Err(TicketError::BadSignature)
        );
        assert!(matches!(
            c.decode(b"garbage", "demo", 0),
            Err(TicketError::Malformed(_))
        ));
        assert_eq!(
            c.decode(b"lkt1.abc", "demo", 0),
            Err(TicketError::BadSignature)
        );
    }
}
