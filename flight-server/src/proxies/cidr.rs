//! Address ranges in CIDR notation (`10.0.0.0/8`, `fd00::/8`, or a single
//! address), as `--trusted-proxy` takes them.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

/// A range of addresses: a network address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `addr` (an IPv4-mapped IPv6 address as its IPv4 one) lies
    /// in the range.
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.network, addr.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                u32::from(a) & mask_v4(self.prefix) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                u128::from(a) & mask_v6(self.prefix) == u128::from(net)
            }
            _ => false,
        }
    }
}

fn mask_v4(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask_v6(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

impl FromStr for Cidr {
    type Err = String;

    /// `address/prefix`, or one address. Bits set beyond the prefix are
    /// refused (a typo, most likely).
    fn from_str(s: &str) -> Result<Self, String> {
        let text = s.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let network: IpAddr = address
            .parse()
            .map_err(|_| format!("'{text}' is not an address range (10.0.0.0/8, fd00::/8)"))?;
        let network = network.to_canonical();
        let width: u8 = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => width,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= width)
                .ok_or_else(|| format!("'{text}': the prefix must be 0 to {width}"))?,
        };
        let cidr = Self { network, prefix };
        let masked = match network {
            IpAddr::V4(a) => IpAddr::from((u32::from(a) & mask_v4(prefix)).to_be_bytes()),
            IpAddr::V6(a) => IpAddr::from((u128::from(a) & mask_v6(prefix)).to_be_bytes()),
        };
        if masked != network {
            return Err(format!(
                "'{text}' has bits set beyond its prefix; did you mean {masked}/{prefix}?"
            ));
        }
        Ok(cidr)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_contain_their_addresses_only() {
        let private = cidr("10.0.0.0/8");
        assert!(private.contains([10, 1, 2, 3].into()));
        assert!(!private.contains([11, 0, 0, 1].into()));
        assert!(
            private.contains("::ffff:10.9.9.9".parse().unwrap()),
            "IPv4-mapped"
        );
        assert!(!private.contains("fd00::1".parse().unwrap()));
        let one = cidr("127.0.0.1");
        assert_eq!(one.to_string(), "127.0.0.1/32");
        assert!(one.contains([127, 0, 0, 1].into()));
        assert!(!one.contains([127, 0, 0, 2].into()));
        let v6 = cidr("fd00::/8");
        assert!(v6.contains("fdab::1".parse().unwrap()));
        assert!(!v6.contains("fe80::1".parse().unwrap()));
        assert!(cidr("0.0.0.0/0").contains([203, 0, 113, 7].into()));
        assert!(cidr("::/0").contains("2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn bad_ranges_are_named() {
        for (bad, expected) in [
            ("10.0.0.1/8", "did you mean 10.0.0.0/8?"),
            ("10.0.0.0/33", "0 to 32"),
            ("fd00::/129", "0 to 128"),
            ("10.0.0.0/x", "0 to 32"),
            ("proxy.example.org", "not an address range"),
        ] {
            let err = bad.parse::<Cidr>().unwrap_err();
            assert!(err.contains(expected), "{bad}: {err}");
        }
    }
}
