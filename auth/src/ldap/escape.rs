//! Making user input inert before it reaches the directory: values in
//! search filters are escaped as RFC 4515 says, values in DNs as RFC 4514
//! says, and user names are checked before either.

use std::fmt::Write;

/// Longest user name looked up in the directory, in bytes.
pub const MAX_USER_NAME_LEN: usize = 256;

/// Why a user name is not looked up in the directory (`None`: it may be).
/// Empty names, names longer than [`MAX_USER_NAME_LEN`] bytes and names
/// holding control characters (NUL, newlines …) are refused.
pub fn user_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("the user name is empty")
    } else if name.len() > MAX_USER_NAME_LEN {
        Some("the user name is too long")
    } else if name.chars().any(char::is_control) {
        Some("the user name holds control characters")
    } else {
        None
    }
}

/// Escapes `value` for an assertion value in a search filter (RFC 4515):
/// `*`, `(`, `)`, `\` and NUL, and every other control character, become
/// `\XX` escapes of their bytes, so the value can only ever match itself.
pub fn filter_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '*' | '(' | ')' | '\\') || c.is_control() {
            push_hex(&mut out, c);
        } else {
            out.push(c);
        }
    }
    out
}

/// Escapes `value` for an attribute value in a DN (RFC 4514): `"`, `+`,
/// `,`, `;`, `<`, `=`, `>` and `\` are escaped with a backslash; a leading
/// space or `#` and a trailing space too; NUL and other control characters
/// become `\XX` escapes of their bytes.
pub fn dn_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let edge = (i == 0 && matches!(c, ' ' | '#')) || (i == last && c == ' ');
        if c.is_control() {
            push_hex(&mut out, c);
        } else if edge || matches!(c, '"' | '+' | ',' | ';' | '<' | '=' | '>' | '\\') {
            out.push('\\');
            out.push(c);
        } else {
            out.push(c);
        }
    }
    out
}

/// Appends `\XX` for each UTF-8 byte of `c`.
fn push_hex(out: &mut String, c: char) {
    let mut buf = [0u8; 4];
    for b in c.encode_utf8(&mut buf).bytes() {
        // Writing to a String cannot fail.
        let _ = write!(out, "\\{b:02x}");
    }
}

/// Fills `template`'s `{user}` with `user` and `{dn}` with `dn`, each
/// escaped for a filter.
pub fn fill_filter(template: &str, user: &str, dn: &str) -> String {
    template
        .replace("{user}", &filter_value(user))
        .replace("{dn}", &filter_value(dn))
}

/// Fills a bind DN template's `{user}` with `user`, escaped for a DN.
pub fn fill_dn(template: &str, user: &str) -> String {
    template.replace("{user}", &dn_value(user))
}

/// `dn` in a form two spellings of one DN share: attribute types and
/// values lower-cased, spaces around `,` and `=` dropped (escaped commas
/// stay inside their value). For comparing DNs, not for sending them.
pub fn normalize_dn(dn: &str) -> String {
    let mut rdns = Vec::new();
    let mut current = String::new();
    let mut escaped = false;
    for c in dn.chars() {
        if escaped {
            current.push(c);
            escaped = false;
        } else if c == '\\' {
            current.push(c);
            escaped = true;
        } else if c == ',' {
            rdns.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    rdns.push(current);
    rdns.iter()
        .map(|rdn| match rdn.split_once('=') {
            Some((kind, value)) => format!(
                "{}={}",
                kind.trim().to_lowercase(),
                value.trim().to_lowercase()
            ),
            None => rdn.trim().to_lowercase(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_values_cannot_widen_a_filter() {
        assert_eq!(filter_value("alice"), "alice");
        assert_eq!(filter_value("*"), "\\2a");
        assert_eq!(filter_value(")(uid=*"), "\\29\\28uid=\\2a");
        assert_eq!(filter_value("admin)(|(uid=*"), "admin\\29\\28|\\28uid=\\2a");
        assert_eq!(filter_value("a\\b"), "a\\5cb");
        assert_eq!(filter_value("nul\0x"), "nul\\00x");
        assert_eq!(filter_value("line\nbreak"), "line\\0abreak");
        assert_eq!(filter_value("Ærlig"), "Ærlig", "UTF-8 passes as is");
        let filled = fill_filter("(&(uid={user})(objectClass=person))", "*)(uid=*", "");
        assert_eq!(filled, "(&(uid=\\2a\\29\\28uid=\\2a)(objectClass=person))");
        assert!(
            ldap3::parse_filter(&filled).is_ok(),
            "still one valid filter"
        );
    }

    #[test]
    fn dn_values_cannot_add_components() {
        assert_eq!(dn_value("alice"), "alice");
        assert_eq!(dn_value("a,ou=admins"), "a\\,ou\\=admins");
        assert_eq!(dn_value("x+cn=y"), "x\\+cn\\=y");
        assert_eq!(dn_value("\"q\";<>\\"), "\\\"q\\\"\\;\\<\\>\\\\");
        assert_eq!(dn_value(" lead"), "\\ lead");
        assert_eq!(dn_value("#hash"), "\\#hash");
        assert_eq!(dn_value("trail "), "trail\\ ");
        assert_eq!(dn_value("mid dle"), "mid dle");
        assert_eq!(dn_value("nul\0"), "nul\\00");
        assert_eq!(dn_value("*"), "*", "not special in a DN");
        assert_eq!(
            fill_dn("uid={user},ou=people,dc=example,dc=org", "eve,ou=admins"),
            "uid=eve\\,ou\\=admins,ou=people,dc=example,dc=org"
        );
    }

    #[test]
    fn user_names_are_checked() {
        assert_eq!(user_name_problem("alice"), None);
        assert_eq!(user_name_problem("o'brien.jr"), None);
        assert!(user_name_problem("").is_some());
        assert!(user_name_problem("a\0b").is_some());
        assert!(user_name_problem("a\nb").is_some());
        assert!(user_name_problem("a\u{7f}").is_some());
        assert!(user_name_problem(&"x".repeat(MAX_USER_NAME_LEN)).is_none());
        assert!(user_name_problem(&"x".repeat(MAX_USER_NAME_LEN + 1)).is_some());
    }

    #[test]
    fn dns_compare_in_one_spelling() {
        assert_eq!(
            normalize_dn("CN=Analysts, OU=Groups,dc=Example , dc=org"),
            "cn=analysts,ou=groups,dc=example,dc=org"
        );
        assert_eq!(
            normalize_dn("cn=Smith\\, J,ou=people"),
            "cn=smith\\, j,ou=people",
            "an escaped comma stays in its value"
        );
        assert_ne!(normalize_dn("cn=a,ou=x"), normalize_dn("cn=a,ou=y"));
    }
}
