//! What the directory says about a user, as a principal carries it.

use std::collections::BTreeMap;

/// What the directory says about a user: the roles their groups map to and
/// the attributes copied from their entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Identity {
    /// Laker roles.
    pub(crate) roles: Vec<String>,
    /// Principal attributes.
    pub(crate) attributes: BTreeMap<String, String>,
}
