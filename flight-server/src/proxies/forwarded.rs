//! The hops proxies report in `X-Forwarded-For` (comma-separated
//! addresses) and `Forwarded` (RFC 7239: `for=` in each comma-separated
//! element), right-most (nearest) first. Parsing is bounded: all lines of a
//! header together at most [`MAX_HEADER_BYTES`], at most [`MAX_HOPS`] hops
//! looked at. A hop that is not an address (`unknown`, an obfuscated name,
//! garbage) reads as `None`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use http::HeaderMap;

/// Longest header (all its lines together) that is read.
pub const MAX_HEADER_BYTES: usize = 8 << 10;
/// Most hops looked at, from the right.
pub const MAX_HOPS: usize = 32;

/// A forwarding header of a request.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Header {
    /// Not sent.
    Absent,
    /// Sent, but too large or not ASCII text: ignored.
    Unusable,
    /// Its lines, joined with commas.
    Value(String),
}

/// All lines of header `name`, joined.
pub(super) fn header(headers: &HeaderMap, name: &str) -> Header {
    let mut joined = String::new();
    let mut any = false;
    for value in headers.get_all(name) {
        any = true;
        let Ok(text) = value.to_str() else {
            return Header::Unusable;
        };
        if joined.len() + text.len() + 1 > MAX_HEADER_BYTES {
            return Header::Unusable;
        }
        if !joined.is_empty() {
            joined.push(',');
        }
        joined.push_str(text);
    }
    if any {
        Header::Value(joined)
    } else {
        Header::Absent
    }
}

/// The hops of an `X-Forwarded-For` value, nearest first.
pub(super) fn x_forwarded_for(value: &str) -> Vec<Option<IpAddr>> {
    value.rsplit(',').take(MAX_HOPS + 1).map(address).collect()
}

/// The hops of a `Forwarded` value, nearest first (an element without a
/// readable `for=` reads as `None`; a value with an unclosed quote has no
/// hops but that one).
pub(super) fn forwarded(value: &str) -> Vec<Option<IpAddr>> {
    let Some(elements) = split_unquoted(value, ',') else {
        return vec![None];
    };
    elements
        .into_iter()
        .rev()
        .take(MAX_HOPS + 1)
        .map(for_of)
        .collect()
}

/// The `for=` address of one `Forwarded` element.
fn for_of(element: &str) -> Option<IpAddr> {
    let pairs = split_unquoted(element, ';')?;
    let value = pairs.iter().find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("for")
            .then_some(value.trim())
    })?;
    let value = match value.strip_prefix('"') {
        Some(quoted) => quoted.strip_suffix('"').filter(|v| !v.contains('\\'))?,
        None => value,
    };
    address(value)
}

/// `text` split at each `delimiter` outside double quotes; `None` when a
/// quote is left open.
fn split_unquoted(text: &str, delimiter: char) -> Option<Vec<&str>> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in text.char_indices() {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == delimiter && !quoted {
            parts.push(&text[start..i]);
            start = i + c.len_utf8();
        }
    }
    if quoted {
        return None;
    }
    parts.push(&text[start..]);
    Some(parts)
}

/// One hop: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
/// `[2001:db8::1]` or `[2001:db8::1]:4711`.
fn address(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Some(rest) = hop.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        if !(after.is_empty() || is_port(after.strip_prefix(':')?)) {
            return None;
        }
        return v6.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip);
    }
    let (v4, port) = hop.split_once(':')?;
    if !is_port(port) {
        return None;
    }
    v4.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

fn is_port(text: &str) -> bool {
    !text.is_empty() && text.len() <= 5 && text.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn x_forwarded_for_hops_come_nearest_first() {
        assert_eq!(
            x_forwarded_for("203.0.113.7, 10.0.0.2 ,10.0.0.3"),
            [ip("10.0.0.3"), ip("10.0.0.2"), ip("203.0.113.7")]
        );
        assert_eq!(
            x_forwarded_for("[2001:db8::1]:4711,2001:db8::2,192.0.2.1:80,unknown"),
            [None, ip("192.0.2.1"), ip("2001:db8::2"), ip("2001:db8::1")]
        );
        for bad in [
            "",
            "1.2.3",
            "1.2.3.4:",
            "1.2.3.4:123456",
            "[::1",
            "[::1]x",
            "a b",
        ] {
            assert_eq!(x_forwarded_for(bad), [None], "{bad:?}");
        }
        let many = vec!["10.0.0.1"; 100].join(",");
        assert_eq!(x_forwarded_for(&many).len(), MAX_HOPS + 1);
    }

    #[test]
    fn forwarded_for_is_read_from_each_element() {
        assert_eq!(
            forwarded(
                r#"for=192.0.2.60;proto=http;by=203.0.113.43, For="[2001:db8:cafe::17]:4711""#
            ),
            [ip("2001:db8:cafe::17"), ip("192.0.2.60")]
        );
        // Commas and semicolons inside quotes do not split.
        assert_eq!(
            forwarded(r#"for=192.0.2.1;host="a,b;c", proto=https;for=10.0.0.1"#),
            [ip("10.0.0.1"), ip("192.0.2.1")]
        );
        assert_eq!(
            forwarded("for=unknown, proto=http, for=_hidden"),
            [None, None, None]
        );
        assert_eq!(forwarded(r#"for="192.0.2.1"#), [None], "unclosed quote");
    }

    #[test]
    fn header_lines_are_joined_within_the_bound() {
        let mut headers = HeaderMap::new();
        assert_eq!(header(&headers, "x-forwarded-for"), Header::Absent);
        headers.append("x-forwarded-for", HeaderValue::from_static("203.0.113.7"));
        headers.append("x-forwarded-for", HeaderValue::from_static("10.0.0.2"));
        assert_eq!(
            header(&headers, "x-forwarded-for"),
            Header::Value("203.0.113.7,10.0.0.2".into())
        );
        let long = "1".repeat(MAX_HEADER_BYTES);
        headers.append("x-forwarded-for", HeaderValue::from_str(&long).unwrap());
        assert_eq!(header(&headers, "x-forwarded-for"), Header::Unusable);
        let mut headers = HeaderMap::new();
        headers.append("forwarded", HeaderValue::from_bytes(b"for=\xff").unwrap());
        assert_eq!(header(&headers, "forwarded"), Header::Unusable);
    }
}
