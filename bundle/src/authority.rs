//! The authority (`host[:port]`) part of a public URL, strictly: what a grant's resource
//! may be built from. Both the origin (the Host a request names) and `course sign` (the
//! URL prefix it signs) check with this.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Longest host name accepted (DNS's limit).
const MAX_HOST: usize = 253;
/// `host[:port]` checked and lowercased, or `None`. A host is a DNS name (letters, digits,
/// `-`, `_`, dots between non-empty labels), a dotted IPv4 address, or a bracketed IPv6
/// address; the port is 1 to 5 digits up to 65535. Nothing else: no userinfo, path, query,
/// fragment, percent-encoding, whitespace or control characters.
pub fn normalise(authority: &str) -> Option<String> {
    let (host, port) = split_port(authority)?;
    if let Some(port) = port {
        if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        port.parse::<u16>().ok().filter(|p| *p != 0)?;
    }
    let valid = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        v6.parse::<Ipv6Addr>().is_ok()
    } else {
        is_dns_name(host)
    };
    valid.then(|| authority.to_ascii_lowercase())
}
/// Splits `host[:port]`; a bracketed IPv6 host keeps its colons.
fn split_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if authority.starts_with('[') {
        let end = authority.find(']')?;
        let (host, rest) = authority.split_at(end + 1);
        return match rest {
            "" => Some((host, None)),
            _ => Some((host, Some(rest.strip_prefix(':')?))),
        };
    }
    Some(match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    })
}
fn is_dns_name(host: &str) -> bool {
    if host.is_empty() || host.len() > MAX_HOST {
        return false;
    }
    // A name of digits and dots must be a real IPv4 address (no `1.2.3` or `999.1.1.1`).
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return host.parse::<Ipv4Addr>().is_ok();
    }
    host.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_authorities() {
        for ok in
            ["learn.test", "LEARN.test:8080", "127.0.0.1:3000", "[::1]:80", "[2001:db8::1]", "my_host-2"]
        {
            assert_eq!(normalise(ok), Some(ok.to_ascii_lowercase()), "{ok}");
        }
    }

    #[test]
    fn refuses_anything_that_could_change_the_url() {
        for bad in [
            "",
            "h/courses/a/x",
            "h?x",
            "h#x",
            "user@h",
            "h:80@other",
            "h x",
            "h\t",
            "h:",
            "h:0",
            "h:65536",
            "h:123456",
            "h:8o",
            "-h",
            "h..i",
            ".h",
            "h%2f",
            "1.2.3",
            "999.1.1.1",
            "[::1",
            "[::1]x",
            "[not-v6]",
            "h:80:80",
            "h\\x",
            &"a".repeat(254),
        ] {
            assert_eq!(normalise(bad), None, "{bad:?}");
        }
    }
}
