//! Password hashing with argon2id.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::RngCore;

use crate::error::{AuthError, Result};

/// Hashes `password` with argon2id and a random salt (PHC string).
pub fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| AuthError::Internal(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Internal(e.to_string()))
}

/// Argon2 verifications performed by this process (every check, failed or
/// not, costs exactly one: tests count them to prove no refusal is cheaper).
static VERIFICATIONS: AtomicU64 = AtomicU64::new(0);

/// How many argon2 verifications this process has performed.
pub fn verifications() -> u64 {
    VERIFICATIONS.load(Ordering::Relaxed)
}

/// Checks `password` against a stored PHC hash in constant time. A missing
/// or malformed stored hash (a service account has none) verifies as false
/// after the same work as a real check, so it cannot be told apart by timing.
pub fn verify_password(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(hash) => argon2_verify(password, &hash),
        Err(_) => {
            verify_dummy(password);
            false
        }
    }
}

fn argon2_verify(password: &str, hash: &PasswordHash<'_>) -> bool {
    VERIFICATIONS.fetch_add(1, Ordering::Relaxed);
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// Spends the same effort as a real verification, so an unknown user name
/// cannot be told apart from a wrong password by timing.
pub fn verify_dummy(password: &str) {
    static DUMMY: LazyLock<String> =
        LazyLock::new(|| hash_password("laker-dummy-password").unwrap_or_default());
    match PasswordHash::new(&DUMMY) {
        Ok(hash) => {
            let _ = argon2_verify(password, &hash);
        }
        // Only if hashing itself is broken; nothing to spend effort on.
        Err(_) => {
            VERIFICATIONS.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Serialises tests that count [`verifications`] against those that verify.
#[cfg(test)]
pub(crate) static COUNTING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let _counting = COUNTING.blocking_lock();
        let h = hash_password("s3cret").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("s3cret", &h));
        assert!(!verify_password("s3cret ", &h));
        assert!(!verify_password("s3cret", "not-a-hash"));
        assert_ne!(h, hash_password("s3cret").unwrap(), "salts differ");
    }
}
