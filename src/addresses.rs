//! This host's addresses, as `mra run` serves them: with the default bind
//! to the unspecified address, rooms and browsers on every network reach
//! it, so WebRTC gathers a host candidate on each interface address (and
//! loopback), and start-up says which addresses are served.

use std::net::IpAddr;

/// The IPv4 addresses of up interfaces, non-loopback first, then
/// 127.0.0.1. (IPv6 is left to an explicit `web.rtc_address`: link-local
/// and temporary addresses make poor host candidates.)
pub fn host_ipv4() -> Vec<IpAddr> {
    use nix::net::if_::InterfaceFlags;
    let mut ips: Vec<IpAddr> = nix::ifaddrs::getifaddrs()
        .map(|addrs| {
            addrs
                .filter(|a| a.flags.contains(InterfaceFlags::IFF_UP))
                .filter_map(|a| a.address?.as_sockaddr_in().map(|s| IpAddr::V4(s.ip())))
                .filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
                .collect()
        })
        .unwrap_or_default();
    ips.dedup();
    ips.push(IpAddr::from([127, 0, 0, 1]));
    ips
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_comes_last_and_once() {
        let ips = host_ipv4();
        assert_eq!(ips.last(), Some(&IpAddr::from([127, 0, 0, 1])));
        assert_eq!(ips.iter().filter(|ip| ip.is_loopback()).count(), 1);
    }
}
