//! A user's groups — direct, and groups of those groups to a bounded depth
//! — and the Laker roles they map to.

use std::collections::HashSet;
use std::time::Duration;

use ldap3::Ldap;

use super::config::GroupLookup;
use super::entry::{self, Entry};
use super::error::DirectoryError;
use super::escape::{fill_filter, normalize_dn};

/// Most groups collected for one user.
const MAX_GROUPS: usize = 1000;

/// The attribute naming an entry's groups.
pub(crate) const MEMBER_OF: &str = "memberOf";

/// The DNs of the groups `user` (whose entry is `entry`) belongs to: the
/// direct ones, and up to `depth` levels of groups those belong to. Each
/// group is looked up once (cycles end), at most [`MAX_GROUPS`].
pub(crate) async fn groups_of(
    ldap: &mut Ldap,
    lookup: &GroupLookup,
    depth: u32,
    user: &str,
    entry: &Entry,
    timeout: Duration,
) -> Result<Vec<String>, DirectoryError> {
    let mut frontier = match lookup {
        GroupLookup::MemberOf => entry.values(MEMBER_OF).to_vec(),
        GroupLookup::Search { base, filter } => {
            entry::dns(ldap, base, &fill_filter(filter, user, &entry.dn), timeout).await?
        }
    };
    let mut seen = HashSet::new();
    let mut groups = Vec::new();
    for level in 0..=depth {
        let mut next = Vec::new();
        for dn in frontier {
            if groups.len() >= MAX_GROUPS {
                tracing::warn!(
                    user,
                    "more than {MAX_GROUPS} directory groups; the rest ignored"
                );
                return Ok(groups);
            }
            if !seen.insert(normalize_dn(&dn)) {
                continue;
            }
            if level < depth {
                next.extend(parents(ldap, lookup, user, &dn, timeout).await?);
            }
            groups.push(dn);
        }
        if next.is_empty() {
            break;
        }
        frontier = next;
    }
    Ok(groups)
}

/// The groups group `dn` belongs to.
async fn parents(
    ldap: &mut Ldap,
    lookup: &GroupLookup,
    user: &str,
    dn: &str,
    timeout: Duration,
) -> Result<Vec<String>, DirectoryError> {
    match lookup {
        GroupLookup::MemberOf => {
            let wanted = [MEMBER_OF.to_string()];
            Ok(entry::read(ldap, dn, &wanted, timeout)
                .await?
                .map(|group| group.values(MEMBER_OF).to_vec())
                .unwrap_or_default())
        }
        GroupLookup::Search { base, filter } => {
            entry::dns(ldap, base, &fill_filter(filter, user, dn), timeout).await
        }
    }
}

/// The roles `groups` map to by `mapping` (normalised group DN → role),
/// sorted, each once. Groups without a mapping grant nothing.
pub(crate) fn roles(mapping: &[(String, String)], groups: &[String]) -> Vec<String> {
    let groups: HashSet<String> = groups.iter().map(|g| normalize_dn(g.as_str())).collect();
    let mut roles: Vec<String> = mapping
        .iter()
        .filter(|(dn, _)| groups.contains(dn))
        .map(|(_, role)| role.clone())
        .collect();
    roles.sort();
    roles.dedup();
    roles
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping() -> Vec<(String, String)> {
        [
            ("cn=analysts,ou=groups,dc=example,dc=org", "analyst"),
            ("cn=data-team,ou=groups,dc=example,dc=org", "data_team"),
            ("cn=engineers,ou=groups,dc=example,dc=org", "engineer"),
            ("cn=ENGINEERS, ou=Groups, dc=example, dc=org", "builder"),
        ]
        .into_iter()
        .map(|(dn, role)| (normalize_dn(dn), role.to_string()))
        .collect()
    }

    #[test]
    fn groups_map_to_roles() {
        let alice = vec![
            "cn=Analysts,ou=groups,dc=example,dc=org".to_string(),
            "cn=data-team,ou=groups,dc=example,dc=org".to_string(),
            "cn=unmapped,ou=groups,dc=example,dc=org".to_string(),
        ];
        assert_eq!(roles(&mapping(), &alice), vec!["analyst", "data_team"]);
        let bob = vec!["cn=engineers, ou=groups, dc=example, dc=org".to_string()];
        assert_eq!(
            roles(&mapping(), &bob),
            vec!["builder", "engineer"],
            "one group may map to several roles, whatever its DN's spelling"
        );
        assert!(roles(&mapping(), &[]).is_empty());
        let nested_only = vec!["cn=data-team,ou=groups,dc=example,dc=org".to_string()];
        assert_eq!(roles(&mapping(), &nested_only), vec!["data_team"]);
    }
}
