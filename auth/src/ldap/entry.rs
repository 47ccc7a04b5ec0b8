//! Reading entries: the one user entry a filter finds, an entry by its DN,
//! the DNs of the entries a filter finds; and the attributes copied from a
//! user's entry.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use ldap3::{Ldap, Scope, SearchEntry, SearchOptions, SearchResult};

use super::error::DirectoryError;

/// Most entries a group search returns.
pub(crate) const MAX_ENTRIES: i32 = 1000;

/// An entry: its DN and the attributes asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The entry's DN.
    pub(crate) dn: String,
    /// Attribute name (as the directory spells it) → values.
    pub(crate) attrs: HashMap<String, Vec<String>>,
}

impl Entry {
    /// The values of `attribute` (names compare case-insensitively).
    pub(crate) fn values(&self, attribute: &str) -> &[String] {
        self.attrs
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(attribute))
            .map(|(_, values)| values.as_slice())
            .unwrap_or_default()
    }
}

impl From<SearchEntry> for Entry {
    fn from(e: SearchEntry) -> Self {
        Self {
            dn: e.dn,
            attrs: e.attrs,
        }
    }
}

/// The one entry `filter` finds in the subtree at `base`, with `attrs`.
/// No entry, or several (a filter that is not specific enough: logged,
/// never guessed between), is `None`.
pub(crate) async fn find(
    ldap: &mut Ldap,
    base: &str,
    filter: &str,
    attrs: &[String],
    timeout: Duration,
) -> Result<Option<Entry>, DirectoryError> {
    let SearchResult(entries, result) = ldap
        .with_search_options(SearchOptions::new().sizelimit(2))
        .with_timeout(timeout)
        .search(base, Scope::Subtree, filter, attrs.to_vec())
        .await
        .map_err(|e| DirectoryError::during("the user search", e))?;
    if entries.len() > 1 {
        tracing::warn!(
            base,
            filter,
            "several directory entries match one user name; refusing the login \
             (make --ldap-user-filter more specific)"
        );
        return Ok(None);
    }
    // 4: size limit exceeded (two or more entries, handled above).
    if !matches!(result.rc, 0 | 4) {
        return Err(DirectoryError::Refused {
            what: "the user search",
            detail: result.to_string(),
        });
    }
    Ok(entries
        .into_iter()
        .next()
        .map(|e| Entry::from(SearchEntry::construct(e))))
}

/// The entry at `dn` with `attrs`; `None` if there is none.
pub(crate) async fn read(
    ldap: &mut Ldap,
    dn: &str,
    attrs: &[String],
    timeout: Duration,
) -> Result<Option<Entry>, DirectoryError> {
    let SearchResult(entries, result) = ldap
        .with_timeout(timeout)
        .search(dn, Scope::Base, "(objectClass=*)", attrs.to_vec())
        .await
        .map_err(|e| DirectoryError::during("reading an entry", e))?;
    match result.rc {
        0 => Ok(entries
            .into_iter()
            .next()
            .map(|e| Entry::from(SearchEntry::construct(e)))),
        // noSuchObject
        32 => Ok(None),
        _ => Err(DirectoryError::Refused {
            what: "reading an entry",
            detail: result.to_string(),
        }),
    }
}

/// The DNs of the entries `filter` finds in the subtree at `base` (at most
/// [`MAX_ENTRIES`]; more are logged and left out).
pub(crate) async fn dns(
    ldap: &mut Ldap,
    base: &str,
    filter: &str,
    timeout: Duration,
) -> Result<Vec<String>, DirectoryError> {
    // "1.1": no attributes, only the DNs.
    let SearchResult(entries, result) = ldap
        .with_search_options(SearchOptions::new().sizelimit(MAX_ENTRIES))
        .with_timeout(timeout)
        .search(base, Scope::Subtree, filter, vec!["1.1"])
        .await
        .map_err(|e| DirectoryError::during("the group search", e))?;
    match result.rc {
        0 => {}
        4 => tracing::warn!(
            base,
            filter,
            "group search hit its size limit ({MAX_ENTRIES})"
        ),
        _ => {
            return Err(DirectoryError::Refused {
                what: "the group search",
                detail: result.to_string(),
            });
        }
    }
    Ok(entries
        .into_iter()
        .map(|e| SearchEntry::construct(e).dn)
        .collect())
}

/// The principal attributes `mapping` (directory attribute → principal
/// attribute) copies from `entry`: the first value of each it holds.
pub(crate) fn attributes(mapping: &[(String, String)], entry: &Entry) -> BTreeMap<String, String> {
    mapping
        .iter()
        .filter_map(|(attribute, name)| {
            let value = entry.values(attribute).first()?;
            Some((name.clone(), value.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_copied_by_mapping() {
        let entry = Entry {
            dn: "uid=alice,ou=people,dc=example,dc=org".into(),
            attrs: HashMap::from([
                (
                    "departmentNumber".to_string(),
                    vec!["sales".to_string(), "x".to_string()],
                ),
                ("mail".to_string(), vec!["alice@example.org".to_string()]),
            ]),
        };
        let mapping = vec![
            ("departmentnumber".to_string(), "department".to_string()),
            ("mail".to_string(), "mail".to_string()),
            ("title".to_string(), "title".to_string()),
        ];
        assert_eq!(
            attributes(&mapping, &entry),
            BTreeMap::from([
                ("department".to_string(), "sales".to_string()),
                ("mail".to_string(), "alice@example.org".to_string()),
            ])
        );
        assert_eq!(entry.values("MAIL").len(), 1);
        assert!(entry.values("memberOf").is_empty());
    }
}
