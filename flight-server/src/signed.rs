//! The one codec of the server's signed credentials — download tickets,
//! statement and prepared-statement handles: self-contained and
//! HMAC-signed, so any replica can verify them and nothing is kept between
//! the call that issues one and the call that redeems it.
//!
//! A credential is `<prefix><base64url(claims JSON)>.<base64url(HMAC-SHA256)>`.
//! Each kind has a prefix of its own, covered by the tag, so one kind never
//! passes as another. All are signed with a key derived from the server
//! secret and verified against it and those of rotated-out secrets.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Largest accepted signed credential.
pub const MAX_SIGNED_BYTES: usize = 2 << 20;

/// What the signing key is derived from the secret with (a separate key, so
/// a credential can never pass as a token or the other way round).
const SIGNING_KEY_LABEL: &[u8] = b"laker ticket signing key v1";

/// What every signed credential asserts besides its content.
pub trait Claims: Serialize + DeserializeOwned {
    /// Prefix of this kind's credentials (kind and format version).
    const PREFIX: &'static str;
    /// The principal it was issued to.
    fn subject(&self) -> &str;
    /// Expiry, Unix seconds.
    fn expires(&self) -> u64;
    /// Issue time, Unix epoch milliseconds: one issued before its principal's
    /// tokens were revoked (logout) is refused by the caller.
    fn issued_at_ms(&self) -> i64;
}

/// Implements [`Claims`] with `prefix` for a struct whose `sub`, `exp` and
/// `iat_ms` fields hold the subject, expiry and issue time.
macro_rules! impl_claims {
    ($ty:ty, $prefix:expr) => {
        impl $crate::signed::Claims for $ty {
            const PREFIX: &'static str = $prefix;
            fn subject(&self) -> &str {
                &self.sub
            }
            fn expires(&self) -> u64 {
                self.exp
            }
            fn issued_at_ms(&self) -> i64 {
                self.iat_ms
            }
        }
    };
}
pub(crate) use impl_claims;

/// Why a signed credential was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignedError {
    /// Not a credential of this kind, or garbled.
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
}

/// Signs with the key of the current secret; verifies against it and the
/// keys of rotated-out secrets.
#[derive(Clone)]
pub struct Signer {
    key: Vec<u8>,
    /// Keys derived from rotated-out secrets: their credentials still verify.
    previous: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer keyed by `secret` (the token secret).
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: mac(secret, SIGNING_KEY_LABEL),
            previous: Vec::new(),
        }
    }

    /// Also accepts credentials signed with `previous` secrets (key rotation).
    pub fn with_previous_secrets<'a>(
        mut self,
        previous: impl IntoIterator<Item = &'a [u8]>,
    ) -> Self {
        self.previous = previous
            .into_iter()
            .map(|s| mac(s, SIGNING_KEY_LABEL))
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

    /// Encodes and signs `claims` as `<prefix><base64url(JSON)>.<tag>`.
    pub fn sign<T: Claims>(&self, claims: &T) -> Vec<u8> {
        let payload = serde_json::to_vec(claims).unwrap_or_default();
        let signed = format!("{}{}", T::PREFIX, URL_SAFE_NO_PAD.encode(payload));
        let tag = URL_SAFE_NO_PAD.encode(mac(&self.key, signed.as_bytes()));
        format!("{signed}.{tag}").into_bytes()
    }

    /// Verifies a credential of kind `T`: prefix, signature, expiry (against
    /// `now`, Unix seconds) and that it was issued to `principal`.
    pub fn verify<T: Claims>(
        &self,
        bytes: &[u8],
        principal: &str,
        now: u64,
    ) -> Result<T, SignedError> {
        if bytes.len() > MAX_SIGNED_BYTES || !bytes.starts_with(T::PREFIX.as_bytes()) {
            return Err(SignedError::Malformed("not a handle of this server".into()));
        }
        let claims: T = self.open(T::PREFIX, bytes)?;
        if claims.expires() < now {
            return Err(SignedError::Expired);
        }
        if claims.subject() != principal {
            return Err(SignedError::WrongPrincipal);
        }
        Ok(claims)
    }

    /// The claims of `bytes` once their tag matches one of the keys.
    fn open<T: DeserializeOwned>(&self, prefix: &str, bytes: &[u8]) -> Result<T, SignedError> {
        let text = std::str::from_utf8(bytes).map_err(|_| SignedError::BadSignature)?;
        let (signed, tag) = text.rsplit_once('.').ok_or(SignedError::BadSignature)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| SignedError::BadSignature)?;
        if !self.tag_matches(signed.as_bytes(), &tag) {
            return Err(SignedError::BadSignature);
        }
        let payload = signed
            .strip_prefix(prefix)
            .ok_or(SignedError::BadSignature)?;
        let json = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| SignedError::Malformed("payload is not base64".into()))?;
        serde_json::from_slice(&json).map_err(|e| SignedError::Malformed(e.to_string()))
    }

    /// Whether `tag` is the HMAC of `signed` under the current or a previous key.
    fn tag_matches(&self, signed: &[u8], tag: &[u8]) -> bool {
        std::iter::once(&self.key).chain(&self.previous).any(|key| {
            HmacSha256::new_from_slice(key).is_ok_and(|mut m| {
                m.update(signed);
                // Constant-time comparison.
                m.verify_slice(tag).is_ok()
            })
        })
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
    use serde::Deserialize;

    use super::*;

    /// A kind of credential for the tests.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    struct Note {
        sub: String,
        body: String,
        exp: u64,
        iat_ms: i64,
    }
    impl_claims!(Note, "tst1.");

    /// Another kind, with the same fields.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    struct Memo {
        sub: String,
        body: String,
        exp: u64,
        iat_ms: i64,
    }
    impl_claims!(Memo, "tsm1.");

    const NOW: u64 = 1_000;

    fn note() -> Note {
        Note {
            sub: "ann".into(),
            body: "hello".into(),
            exp: NOW + 60,
            iat_ms: 7,
        }
    }

    fn signer(seed: u8) -> Signer {
        Signer::new(&[seed; 32])
    }

    #[test]
    fn round_trip() {
        let bytes = signer(1).sign(&note());
        assert!(bytes.starts_with(b"tst1."));
        let back: Note = signer(1).verify(&bytes, "ann", NOW).unwrap();
        assert_eq!(back, note());
        assert_eq!(
            (back.subject(), back.expires(), back.issued_at_ms()),
            ("ann", NOW + 60, 7)
        );
    }

    #[test]
    fn another_kind_is_refused() {
        let memo = Memo {
            sub: "ann".into(),
            body: "hello".into(),
            exp: NOW,
            iat_ms: 0,
        };
        let memo_bytes = signer(1).sign(&memo);
        assert_eq!(signer(1).verify::<Memo>(&memo_bytes, "ann", NOW), Ok(memo));
        assert_eq!(
            signer(1).verify::<Note>(&memo_bytes, "ann", NOW),
            Err(SignedError::Malformed("not a handle of this server".into()))
        );
        let bytes = signer(1).sign(&note());
        assert_eq!(
            signer(1).verify::<Memo>(&bytes, "ann", NOW),
            Err(SignedError::Malformed("not a handle of this server".into()))
        );
        // Relabelled as the other kind: the prefix is under the tag.
        let mut relabelled = bytes.clone();
        relabelled[2] = b'm';
        assert_eq!(
            signer(1).verify::<Memo>(&relabelled, "ann", NOW),
            Err(SignedError::BadSignature)
        );
    }

    #[test]
    fn tampering_is_refused() {
        let s = signer(1);
        let text = String::from_utf8(s.sign(&note())).unwrap();
        let (signed, tag) = text.rsplit_once('.').unwrap();
        let mut other = note();
        other.body = "goodbye".into();
        let other = String::from_utf8(s.sign(&other)).unwrap();
        let (other_signed, _) = other.rsplit_once('.').unwrap();
        for forged in [
            format!("{other_signed}.{tag}"),
            format!("{signed}.{}", &tag[1..]),
            format!("{signed}x.{tag}"),
            signed.to_string(),
        ] {
            assert_eq!(
                s.verify::<Note>(forged.as_bytes(), "ann", NOW),
                Err(SignedError::BadSignature),
                "{forged}"
            );
        }
    }

    #[test]
    fn expired_is_refused() {
        let bytes = signer(1).sign(&note());
        assert!(signer(1).verify::<Note>(&bytes, "ann", NOW + 60).is_ok());
        assert_eq!(
            signer(1).verify::<Note>(&bytes, "ann", NOW + 61),
            Err(SignedError::Expired)
        );
    }

    #[test]
    fn another_subject_is_refused() {
        let bytes = signer(1).sign(&note());
        assert_eq!(
            signer(1).verify::<Note>(&bytes, "bob", NOW),
            Err(SignedError::WrongPrincipal)
        );
    }

    #[test]
    fn rotated_keys_verify_and_unknown_keys_do_not() {
        let old = signer(1).sign(&note());
        let rotated = signer(2).with_previous_secrets([[1u8; 32].as_slice()]);
        assert_eq!(rotated.verify::<Note>(&old, "ann", NOW), Ok(note()));
        let fresh = rotated.sign(&note());
        assert_eq!(signer(2).verify::<Note>(&fresh, "ann", NOW), Ok(note()));
        assert_eq!(
            signer(1).verify::<Note>(&fresh, "ann", NOW),
            Err(SignedError::BadSignature),
            "new credentials are signed with the current secret"
        );
        assert_eq!(
            signer(3).verify::<Note>(&old, "ann", NOW),
            Err(SignedError::BadSignature)
        );
    }
}
