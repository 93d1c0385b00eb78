//! Which address a request comes from: the peer, or with trusted proxies in
//! front, the address the outermost of them saw in `X-Forwarded-For`.

use std::net::{IpAddr, Ipv6Addr};

use axum::http::HeaderMap;

const FORWARDED_FOR: &str = "x-forwarded-for";

/// The client's address, as far as it can be trusted; `None` when the
/// server runs without connection info and no proxy header is trusted.
pub(crate) fn client_ip(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted_proxy_hops: usize,
) -> Option<IpAddr> {
    let ip = match trusted_proxy_hops {
        0 => peer,
        hops => forwarded(headers, hops).or(peer),
    };
    ip.map(bucket)
}

/// The `hops`-th address from the right of all `X-Forwarded-For` lines
/// (each proxy appends the address it saw). A shorter list came through
/// fewer proxies: its leftmost entry was written by a trusted one.
fn forwarded(headers: &HeaderMap, hops: usize) -> Option<IpAddr> {
    let entries: Vec<&str> = headers
        .get_all(FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let index = entries.len().saturating_sub(hops);
    entries.get(index)?.parse().ok()
}

/// IPv4 as is (mapped IPv6 included); IPv6 by its /64, which one host
/// usually owns whole: keying on full addresses would let it rotate
/// through 2^64 keys.
fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(lines: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for l in lines {
            h.append(FORWARDED_FOR, HeaderValue::from_str(l).unwrap());
        }
        h
    }

    #[test]
    fn forwarded_for_counts_only_when_trusted_and_from_the_right() {
        let peer: Option<IpAddr> = Some([10, 0, 0, 1].into());
        let h = headers(&["6.6.6.6, 1.2.3.4", "5.6.7.8"]);
        assert_eq!(client_ip(peer, &h, 0), peer, "not trusted: the peer");
        assert_eq!(client_ip(peer, &h, 1), Some([5, 6, 7, 8].into()));
        assert_eq!(client_ip(peer, &h, 2), Some([1, 2, 3, 4].into()));
        assert_eq!(client_ip(peer, &h, 9), Some([6, 6, 6, 6].into()));
        assert_eq!(client_ip(peer, &headers(&["junk"]), 1), peer);
        assert_eq!(client_ip(peer, &HeaderMap::new(), 1), peer);
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        let none = HeaderMap::new();
        assert_eq!(client_ip(Some(a), &none, 0), client_ip(Some(b), &none, 0));
        assert_ne!(client_ip(Some(a), &none, 0), client_ip(Some(c), &none, 0));
        let mapped: IpAddr = "::ffff:1.2.3.4".parse().unwrap();
        assert_eq!(client_ip(Some(mapped), &none, 0), Some([1, 2, 3, 4].into()));
    }
}
