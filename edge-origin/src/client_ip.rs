//! The client's address behind a CDN or proxy, as nginx's `set_real_ip_from` +
//! `real_ip_header` + `real_ip_recursive on` find it: the forwarding header is believed
//! only when the TCP peer is a trusted proxy, and is read from the right (the end the
//! trusted proxies appended to), skipping trusted proxies; the first untrusted address is
//! the client. Anyone else's forwarding header is ignored: it is request text.

use std::net::{IpAddr, SocketAddr};

use http::header::{HeaderMap, HeaderName};
use ipnet::IpNet;

/// The header CloudFront fills with `ip:port` of the viewer.
pub(crate) const CLOUDFRONT_VIEWER_ADDRESS: &str = "cloudfront-viewer-address";

/// How the forwarding header names addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// `X-Forwarded-For` style: a comma-separated list of addresses (a port is allowed
    /// only in the unambiguous `1.2.3.4:5` and `[v6]:5` forms).
    List,
    /// `CloudFront-Viewer-Address`: `ip:port`, the IPv6 form without brackets.
    IpPort,
}

#[derive(Debug, Clone)]
pub(crate) struct ClientIp {
    trusted: Vec<IpNet>,
    header: HeaderName,
    form: Form,
}

impl ClientIp {
    /// `trusted` empty: every request's client is its TCP peer.
    pub(crate) fn new(trusted: Vec<IpNet>, header: HeaderName) -> Self {
        let form = if header == CLOUDFRONT_VIEWER_ADDRESS { Form::IpPort } else { Form::List };
        ClientIp { trusted, header, form }
    }

    /// Whether `ip` is one of the configured proxies.
    pub(crate) fn is_trusted(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.trusted.iter().any(|net| net.contains(&ip))
    }

    /// The client of a request that came from `peer` with `headers`.
    pub(crate) fn resolve(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.is_trusted(peer) {
            return peer;
        }
        match self.walk(headers) {
            Ok(Some(client)) => client,
            Ok(None) => peer,
            Err(entry) => {
                tracing::debug!(header = %self.header, entry, "malformed forwarding header; using the peer");
                peer
            }
        }
    }

    /// From the last entry of the last header line backwards: the first address that is
    /// not a trusted proxy; when all are trusted, the left-most. `Err` names an entry
    /// that is not an address (the whole header is then disbelieved, as nginx does).
    fn walk<'h>(&self, headers: &'h HeaderMap) -> Result<Option<IpAddr>, &'h str> {
        let mut last = None;
        for value in headers.get_all(&self.header).iter().rev() {
            let text = value.to_str().map_err(|_| "<not visible ASCII>")?;
            for entry in text.rsplit(',') {
                let entry = entry.trim();
                let ip = canonical(self.parse(entry).ok_or(entry)?);
                if !self.is_trusted(ip) {
                    return Ok(Some(ip));
                }
                last = Some(ip);
            }
        }
        Ok(last)
    }

    fn parse(&self, entry: &str) -> Option<IpAddr> {
        match self.form {
            Form::List => {
                entry.parse::<IpAddr>().ok().or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
            }
            Form::IpPort => {
                let (ip, port) = entry.rsplit_once(':')?;
                port.parse::<u16>().ok()?;
                ip.trim_start_matches('[').trim_end_matches(']').parse().ok()
            }
        }
    }
}

/// IPv4 clients of a dual-stack listener show up as `::ffff:a.b.c.d`.
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// A `--trusted-proxy` value: a CIDR, or one address.
pub(crate) fn parse_trusted(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>().or_else(|_| text.parse::<IpAddr>().map(IpNet::from)).map_err(|_| {
        format!("{text:?} is not an address or CIDR (e.g. 10.0.0.0/8, 2001:db8::/32, 127.0.0.1)")
    })
}

/// A `--real-ip-header` value.
pub(crate) fn parse_header(text: &str) -> Result<HeaderName, String> {
    HeaderName::from_bytes(text.trim().as_bytes()).map_err(|_| format!("{text:?} is not a header name"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn resolver(header: &str) -> ClientIp {
        let trusted =
            ["127.0.0.1", "10.0.0.0/8", "2001:db8::/32"].iter().map(|t| parse_trusted(t).expect("net"));
        ClientIp::new(trusted.collect(), parse_header(header).expect("header"))
    }

    fn resolve(r: &ClientIp, peer: &str, values: &[&str]) -> IpAddr {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(r.header.clone(), value.parse().expect("value"));
        }
        r.resolve(ip(peer), &headers)
    }

    #[test]
    fn believed_only_from_a_trusted_peer() {
        let r = resolver("X-Forwarded-For");
        assert_eq!(resolve(&r, "127.0.0.1", &["198.51.100.7"]), ip("198.51.100.7"));
        assert_eq!(resolve(&r, "198.51.100.9", &["198.51.100.7"]), ip("198.51.100.9"), "untrusted peer");
        assert_eq!(resolve(&r, "127.0.0.1", &[]), ip("127.0.0.1"), "no header: the peer");
        assert_eq!(resolve(&r, "::ffff:127.0.0.1", &["198.51.100.7"]), ip("198.51.100.7"), "v4-mapped peer");
        let nobody = ClientIp::new(Vec::new(), parse_header("x-forwarded-for").expect("header"));
        assert_eq!(
            resolve(&nobody, "127.0.0.1", &["198.51.100.7"]),
            ip("127.0.0.1"),
            "no proxies configured"
        );
    }

    #[test]
    fn walks_from_the_right_skipping_trusted_proxies() {
        let r = resolver("x-forwarded-for");
        // A spoofed left-most entry is never reached.
        assert_eq!(resolve(&r, "127.0.0.1", &["203.0.113.1, 198.51.100.7, 10.1.2.3"]), ip("198.51.100.7"));
        // Several header lines are one list, in order.
        assert_eq!(
            resolve(&r, "127.0.0.1", &["203.0.113.1", "198.51.100.7", "10.1.2.3"]),
            ip("198.51.100.7")
        );
        // All trusted: the left-most.
        assert_eq!(resolve(&r, "127.0.0.1", &["10.0.0.5, 10.0.0.6"]), ip("10.0.0.5"));
        assert_eq!(resolve(&r, "127.0.0.1", &["2001:db8::1, 2001:4860::8888"]), ip("2001:4860::8888"));
        assert_eq!(resolve(&r, "127.0.0.1", &["[2001:4860::8888]:443"]), ip("2001:4860::8888"));
        assert_eq!(resolve(&r, "127.0.0.1", &["198.51.100.7:5000"]), ip("198.51.100.7"));
        // Garbage left of the client is never looked at.
        assert_eq!(resolve(&r, "127.0.0.1", &["nonsense, 198.51.100.7"]), ip("198.51.100.7"));
    }

    #[test]
    fn a_malformed_header_means_the_peer() {
        let r = resolver("x-forwarded-for");
        for bad in ["unknown", "198.51.100.7, ", "198.51.100.7 10.0.0.1", "999.1.1.1", "198.51.100.7/24", ""]
        {
            assert_eq!(resolve(&r, "127.0.0.1", &[bad]), ip("127.0.0.1"), "{bad:?}");
        }
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", http::HeaderValue::from_bytes(b"198.51.100.\xff").expect("value"));
        assert_eq!(r.resolve(ip("127.0.0.1"), &headers), ip("127.0.0.1"), "not ASCII");
    }

    #[test]
    fn cloudfront_viewer_address_is_ip_and_port() {
        let r = resolver("CloudFront-Viewer-Address");
        assert_eq!(resolve(&r, "10.0.0.1", &["198.51.100.10:46532"]), ip("198.51.100.10"));
        assert_eq!(resolve(&r, "10.0.0.1", &["2001:4860:0:0:0:0:0:8888:443"]), ip("2001:4860::8888"));
        assert_eq!(resolve(&r, "10.0.0.1", &["[2001:4860::8888]:443"]), ip("2001:4860::8888"));
        assert_eq!(resolve(&r, "10.0.0.1", &["198.51.100.10"]), ip("10.0.0.1"), "no port: malformed");
    }

    #[test]
    fn settings_are_checked() {
        assert_eq!(parse_trusted("127.0.0.1"), Ok("127.0.0.1/32".parse().expect("net")));
        assert_eq!(parse_trusted("::1"), Ok("::1/128".parse().expect("net")));
        assert!(parse_trusted("10.0.0.0/33").is_err());
        assert!(parse_trusted("proxy.example").is_err());
        assert!(parse_header("X Forwarded").is_err());
        assert_eq!(parse_header("X-Real-IP").expect("header"), "x-real-ip");
    }
}
