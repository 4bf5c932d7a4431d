//! Speaking with the earlier TypeScript/Bun tool, so a mesh can be migrated node by node.
//!
//! Its probe was `fetch("http://<ip>:<port>")`: an HTTP `GET /`, any response within the
//! timeout counting as a reply. Its listener answered every request by the source address:
//! `200 still online` to a configured node's ip, `200 hello world` to a private-range
//! address, `401 Unauthorized` to anything else. This module holds the pure pieces: the answer
//! bytes ([`answer`]), the private ranges ([`is_private`]), the probe request
//! ([`probe_request`]) and the reader of the old node's responses ([`response`]). The
//! requests themselves are read by the one request parser, [`crate::http::request`], the
//! metrics port's too. The engine ([`crate::mesh`]) decides.
//!
//! Pure, bounded, no panics on any input.

pub mod response;

use std::net::{IpAddr, SocketAddr};

/// Which of the earlier tool's answers a request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// From a configured node's ip: `200`, body `still online`.
    StillOnline,
    /// From another private-range address: `200`, body `hello world`.
    HelloWorld,
    /// From anywhere else: `401`, body `Unauthorized`.
    Unauthorized,
}

impl Answer {
    /// The answer for a request from `ip`; `configured`: it is a configured node's ip.
    /// (The earlier tool tested the private ranges first; both give `200`, so an old
    /// prober counts either as a reply. Configured nodes are recognised first here, so
    /// an operator can tell them apart.)
    pub fn for_source(ip: IpAddr, configured: bool) -> Answer {
        if configured {
            Answer::StillOnline
        } else if is_private(ip) {
            Answer::HelloWorld
        } else {
            Answer::Unauthorized
        }
    }
}

/// Appends the HTTP/1.1 response for `answer` to `out`, as Bun's `new Response(body)`
/// shapes it (status line, `Content-Type`, `Content-Length`), with `Connection: close`
/// when the connection is closed after it, `Connection: keep-alive` when an HTTP/1.0
/// client asked to keep it; no body for a `HEAD` request.
pub fn answer(out: &mut Vec<u8>, answer: Answer, keep_alive: bool, http10: bool, head: bool) {
    let (status, body): (&[u8], &[u8]) = match answer {
        Answer::StillOnline => (b"200 OK", b"still online"),
        Answer::HelloWorld => (b"200 OK", b"hello world"),
        Answer::Unauthorized => (b"401 Unauthorized", b"Unauthorized"),
    };
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status);
    out.extend_from_slice(b"\r\nContent-Type: text/plain;charset=utf-8\r\nContent-Length: ");
    out.extend_from_slice(body.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    if !keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if http10 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !head {
        out.extend_from_slice(body);
    }
}

/// A response to a request the mesh port cannot take (`431`: a head over the limits;
/// `400`: a malformed head or a body); the connection is closed after it.
pub fn refusal(out: &mut Vec<u8>, too_large: bool) {
    out.extend_from_slice(if too_large {
        b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    } else {
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    });
}

/// The probe sent to an old node: `GET /` as `fetch` sends it, keeping the connection.
pub fn probe_request(out: &mut Vec<u8>, to: SocketAddr) {
    out.extend_from_slice(b"GET / HTTP/1.1\r\nHost: ");
    out.extend_from_slice(to.to_string().as_bytes());
    out.extend_from_slice(
        b"\r\nUser-Agent: uptime-tracker\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n",
    );
}

/// Whether `ip` is in a private range, as the earlier tool's `isIPInRangeOrPrivate` took
/// it: IPv4 10/8, 172.16/12, 192.168/16, loopback 127/8 and link-local 169.254/16; IPv6
/// loopback `::1`, unique local fc00::/7 and link-local fe80::/10. An IPv4-mapped IPv6
/// address is its IPv4 address.
pub fn is_private(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.is_private() || v4.is_loopback() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            let first = v6.segments().first().copied().unwrap_or(0);
            v6.is_loopback() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_ranges() {
        for ip in [
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "127.0.0.9",
            "169.254.1.1",
            "::1",
            "fd00::1",
            "fc00::1",
            "fe80::1",
            "::ffff:192.168.0.1",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "172.32.0.1",
            "172.15.255.255",
            "192.169.0.1",
            "100.64.0.1",
            "2001:db8::1",
            "fec0::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn answers_by_source() {
        let lan: IpAddr = "192.168.1.5".parse().unwrap();
        let public: IpAddr = "203.0.113.7".parse().unwrap();
        assert_eq!(Answer::for_source(lan, true), Answer::StillOnline);
        assert_eq!(Answer::for_source(public, true), Answer::StillOnline);
        assert_eq!(Answer::for_source(lan, false), Answer::HelloWorld);
        assert_eq!(Answer::for_source(public, false), Answer::Unauthorized);
        let mut out = Vec::new();
        answer(&mut out, Answer::StillOnline, true, false, false);
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain;charset=utf-8\r\n\
              Content-Length: 12\r\n\r\nstill online"
        );
        out.clear();
        answer(&mut out, Answer::Unauthorized, false, false, false);
        assert_eq!(
            out,
            b"HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain;charset=utf-8\r\n\
              Content-Length: 12\r\nConnection: close\r\n\r\nUnauthorized"
        );
        out.clear();
        answer(&mut out, Answer::HelloWorld, true, true, true);
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain;charset=utf-8\r\n\
              Content-Length: 11\r\nConnection: keep-alive\r\n\r\n"
        );
    }
}
