//! The server's signing secret: configured, or generated once and kept in the
//! data directory with owner-only permissions.

use std::fs;
use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;

use crate::error::{AuthError, Result};

/// Shortest accepted secret, in bytes.
pub const MIN_SECRET_LEN: usize = 32;

/// Reads the secret at `path`, or creates it (32 random bytes, base64, mode
/// 0600) if the file does not exist.
pub fn load_or_create_secret(path: &Path) -> Result<Vec<u8>> {
    match fs::read_to_string(path) {
        Ok(text) => decode(text.trim()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(path),
        Err(e) => Err(AuthError::Internal(format!(
            "cannot read signing secret: {e}"
        ))),
    }
}

/// Reads an existing secret file (e.g. a rotated-out secret).
pub fn read_secret(path: &Path) -> Result<Vec<u8>> {
    let text = fs::read_to_string(path)
        .map_err(|e| AuthError::Internal(format!("cannot read {}: {e}", path.display())))?;
    decode(text.trim())
}

/// Checks a configured secret's length.
pub fn check_secret(secret: &[u8]) -> Result<()> {
    if secret.len() < MIN_SECRET_LEN {
        return Err(AuthError::InvalidArgument(format!(
            "the signing secret must be at least {MIN_SECRET_LEN} bytes long"
        )));
    }
    Ok(())
}

fn decode(text: &str) -> Result<Vec<u8>> {
    let secret = STANDARD
        .decode(text)
        .map_err(|_| AuthError::Internal("signing secret file is not valid base64".into()))?;
    check_secret(&secret)?;
    Ok(secret)
}

fn create(path: &Path) -> Result<Vec<u8>> {
    let mut secret = vec![0u8; MIN_SECRET_LEN];
    rand::rng().fill_bytes(&mut secret);
    let io = |e: std::io::Error| AuthError::Internal(format!("cannot write signing secret: {e}"));
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = match options.open(path) {
        Ok(f) => f,
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return load_or_create_secret(path);
        }
        Err(e) => return Err(io(e)),
    };
    file.write_all(STANDARD.encode(&secret).as_bytes())
        .map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_with_owner_only_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        let a = load_or_create_secret(&path).unwrap();
        let b = load_or_create_secret(&path).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), MIN_SECRET_LEN);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn short_secret_refused() {
        assert!(check_secret(b"short").is_err());
        assert!(check_secret(&[7u8; 32]).is_ok());
    }
}
