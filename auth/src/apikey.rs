//! API keys: `lk_<id>_<secret>`. The id is public and finds the record; only
//! an argon2 hash of the secret is stored, so a leaked catalog does not leak
//! usable keys. The full key is shown once, when it is created.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use laker_catalog::ApiKey;
use rand::RngCore;

use crate::error::Result;
use crate::password::hash_password;

/// Prefix of every API key.
pub const KEY_PREFIX: &str = "lk_";
/// User name that means "the principal is whoever owns the key".
pub const KEY_USER: &str = "key";

/// Creates a key record for `principal` and the key text to hand out.
pub fn generate(
    principal: &str,
    description: &str,
    expires_at_ms: i64,
) -> Result<(ApiKey, String)> {
    let mut id = [0u8; 8];
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut id);
    rand::rng().fill_bytes(&mut secret);
    let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let secret = URL_SAFE_NO_PAD.encode(secret);
    let record = ApiKey {
        id: id.clone(),
        principal: principal.to_string(),
        secret_hash: hash_password(&secret)?,
        description: description.to_string(),
        created_at: crate::token::unix_now_ms(),
        expires_at: expires_at_ms,
        revoked_at: 0,
    };
    Ok((record, format!("{KEY_PREFIX}{id}_{secret}")))
}

/// Splits key text into id and secret; `None` if it is not shaped like a key.
pub fn parse(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix(KEY_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let hex = id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit());
    (hex && !secret.is_empty()).then_some((id, secret))
}

/// Whether a password is really an API key.
pub fn looks_like_key(password: &str) -> bool {
    password.starts_with(KEY_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::verify_password;

    #[test]
    fn generated_keys_parse_and_verify() {
        // Verifications are counted process-wide: not while a test counts them.
        let _counting = crate::password::COUNTING.blocking_lock();
        let (record, text) = generate("svc", "etl", 0).unwrap();
        let (id, secret) = parse(&text).unwrap();
        assert_eq!(id, record.id);
        assert!(verify_password(secret, &record.secret_hash));
        assert!(!record.secret_hash.contains(secret));
        assert!(parse("lk_nothex_abc").is_none());
        assert!(parse("lk_0123456789abcdef_").is_none());
        assert!(parse("password").is_none());
        let (_, other) = generate("svc", "", 0).unwrap();
        assert_ne!(text, other);
    }
}
