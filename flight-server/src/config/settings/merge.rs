//! The one merge rule, and the unit the `*_mb` settings are given in.

/// Puts a setting that was given (by a flag, a variable or the file) in
/// its place; one that was not leaves the default there.
pub(super) fn set<T>(slot: &mut T, given: Option<T>) {
    if let Some(value) = given {
        *slot = value;
    }
}

/// MiB to bytes.
pub(super) fn mib(mb: usize) -> usize {
    mb.saturating_mul(1 << 20)
}
