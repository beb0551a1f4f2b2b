//! Client address parsing. The address in a line always comes from here, never from the raw input,
//! so that whatever a caller passes, fail2ban only ever sees a canonical address.

use std::net::IpAddr;

/// Why a string is not a client address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddrError {
    #[error("the address is empty")]
    Empty,
    #[error("the address is longer than any IPv4 or IPv6 address")]
    TooLong,
    #[error("the address is not valid UTF-8")]
    NotUtf8,
    #[error("'{0}' is not an IPv4 or IPv6 address")]
    Invalid(String),
    #[error("'{0}' is not a single host address (unspecified or multicast)")]
    NotHost(String),
}

/// Longest textual IPv6 address, with an embedded IPv4 part and brackets.
const MAX_ADDR_LEN: usize = 47;

/// Parses a client address from untrusted bytes.
///
/// Accepts dotted-quad IPv4 and any RFC 4291 IPv6 text form, optionally in brackets. IPv4-mapped
/// IPv6 (`::ffff:192.0.2.1`, what a dual-stack socket reports for an IPv4 client) becomes the IPv4
/// address, because that is the address a firewall sees and must ban. Zone ids, ports, leading
/// zeros and surrounding white space are refused rather than guessed at.
pub fn parse_addr(raw: &[u8]) -> Result<IpAddr, AddrError> {
    if raw.is_empty() {
        return Err(AddrError::Empty);
    }
    if raw.len() > MAX_ADDR_LEN {
        return Err(AddrError::TooLong);
    }
    let ip = match plain_ipv4(raw) {
        Some(v4) => IpAddr::from(v4),
        None => parse_general(raw)?,
    };
    if ip.is_unspecified() || ip.is_multicast() || ip == IpAddr::from([255, 255, 255, 255]) {
        return Err(AddrError::NotHost(ip.to_string()));
    }
    Ok(ip)
}

/// A dotted quad without leading zeros, read straight from the bytes in one pass: the common
/// case, on the request path. `None` for anything else, which the general parser then judges.
fn plain_ipv4(raw: &[u8]) -> Option<[u8; 4]> {
    if !(7..=15).contains(&raw.len()) {
        return None;
    }
    let mut octets = [0u8; 4];
    let (mut k, mut value, mut digits) = (0, 0u16, 0);
    for &b in raw {
        if b == b'.' {
            if digits == 0 || k == 3 {
                return None;
            }
            octets[k] = u8::try_from(value).ok()?;
            (k, value, digits) = (k + 1, 0, 0);
        } else {
            let d = b.wrapping_sub(b'0');
            // Not a digit, a fourth digit, or a digit after a leading zero.
            if d > 9 || digits == 3 || (digits == 1 && value == 0) {
                return None;
            }
            value = value * 10 + u16::from(d);
            digits += 1;
            if value > 255 {
                return None;
            }
        }
    }
    if digits == 0 || k != 3 {
        return None;
    }
    octets[3] = u8::try_from(value).ok()?;
    Some(octets)
}

fn parse_general(raw: &[u8]) -> Result<IpAddr, AddrError> {
    let text = std::str::from_utf8(raw).map_err(|_| AddrError::NotUtf8)?;
    let inner = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')).unwrap_or(text);
    let ip: IpAddr = inner.parse().map_err(|_| AddrError::Invalid(text.escape_default().to_string()))?;
    Ok(ip.to_canonical())
}

/// The two values between three fixed pieces of text (`p0 A p1 B p2`), for the parsers that read
/// banlog's lines back; `None` unless `text` starts with `p0`, ends with `p2` and holds `p1`
/// (the last one: the second value is an address, which never holds it).
pub(crate) fn split_fixed<'a>(text: &'a str, pieces: [&str; 3]) -> Option<(&'a str, &'a str)> {
    let inner = text.strip_prefix(pieces[0])?.strip_suffix(pieces[2])?;
    inner.rsplit_once(pieces[1])
}

/// A plain decimal number (digits only, at most 20 of them).
pub(crate) fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The fast path agrees with the standard parser on every string of digits and dots.
        #[test]
        fn plain_ipv4_agrees_with_std(s in "[0-9.]{0,16}") {
            let std: Option<std::net::Ipv4Addr> = s.parse().ok();
            proptest::prop_assert_eq!(plain_ipv4(s.as_bytes()).map(std::net::Ipv4Addr::from), std);
        }

        #[test]
        fn every_ipv4_takes_the_fast_path(a: [u8; 4]) {
            let s = std::net::Ipv4Addr::from(a).to_string();
            proptest::prop_assert_eq!(plain_ipv4(s.as_bytes()), Some(a));
        }
    }

    fn canon(s: &str) -> String {
        parse_addr(s.as_bytes()).unwrap().to_string()
    }

    #[test]
    fn ipv4_is_dotted_quad() {
        assert_eq!(canon("203.0.113.9"), "203.0.113.9");
        assert_eq!(canon("127.0.0.1"), "127.0.0.1");
    }

    #[test]
    fn ipv6_is_rfc5952() {
        // RFC 5952 §4: lower case, longest zero run compressed, first one on a tie, no single-group ::
        assert_eq!(canon("2001:DB8:0:0:0:0:2:1"), "2001:db8::2:1");
        assert_eq!(canon("2001:db8:0000:1:1:1:1:1"), "2001:db8:0:1:1:1:1:1");
        assert_eq!(canon("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");
        assert_eq!(canon("2001:0db8::0001"), "2001:db8::1");
        assert_eq!(canon("[::1]"), "::1");
        assert_eq!(canon("fe80:0:0:0:0:0:0:1"), "fe80::1");
    }

    #[test]
    fn mapped_ipv4_becomes_ipv4() {
        assert_eq!(canon("::ffff:203.0.113.9"), "203.0.113.9");
        assert_eq!(canon("::FFFF:cb00:7109"), "203.0.113.9");
    }

    #[test]
    fn refuses_what_is_not_one_address() {
        for bad in [
            "",
            " 1.2.3.4",
            "1.2.3.4 ",
            "1.2.3",
            "1.2.3.4.5",
            "01.2.3.4",
            "1.2.3.4:80",
            "[::1]:80",
            "fe80::1%eth0",
            "example.com",
            "1.2.3.4, 5.6.7.8",
            "0.0.0.0",
            "::",
            "224.0.0.1",
            "255.255.255.255",
            "1.2.3.4\n",
            "::ffff:0.0.0.0",
        ] {
            assert!(parse_addr(bad.as_bytes()).is_err(), "accepted {bad:?}");
        }
        assert_eq!(parse_addr(b"\xff\xfe"), Err(AddrError::NotUtf8));
        assert!(matches!(parse_addr(b"0.0.0.0"), Err(AddrError::NotHost(_))));
        assert_eq!(parse_addr(&[b'1'; 100]), Err(AddrError::TooLong));
    }
}
