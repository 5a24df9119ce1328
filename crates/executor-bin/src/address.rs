//! The address the executor registers with the admin when none is configured: `http://<ip>:<port><base>/`,
//! the IP being the configured one, else the listen address, else the first non-loopback IPv4 address of an
//! interface that is up (upstream picks a site-local address the same way), else loopback.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use nix::ifaddrs::getifaddrs;
use nix::net::if_::InterfaceFlags;

/// The registered address for an executor listening on `listen`.
pub(crate) fn registered_address(ip: Option<IpAddr>, listen: SocketAddr, base_path: &str) -> String {
    let ip = ip
        .or_else(|| Some(listen.ip()).filter(|ip| !ip.is_unspecified()))
        .unwrap_or_else(detect_ip);
    format!("http://{}{base_path}/", SocketAddr::new(ip, listen.port()))
}

/// The first non-loopback IPv4 address of an interface that is up, or loopback when there is none.
fn detect_ip() -> IpAddr {
    let found = getifaddrs().ok().and_then(|interfaces| {
        interfaces
            .filter(|interface| {
                interface.flags.contains(InterfaceFlags::IFF_UP)
                    && !interface.flags.contains(InterfaceFlags::IFF_LOOPBACK)
            })
            .filter_map(|interface| interface.address?.as_sockaddr_in().map(|address| address.ip()))
            .find(|ip| !ip.is_loopback() && !ip.is_unspecified() && !ip.is_link_local())
    });
    IpAddr::V4(found.unwrap_or(Ipv4Addr::LOCALHOST))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_forms() {
        fn check(ip: Option<&str>, listen: &str, base_path: &str, expected: &str) {
            let ip = ip.map(|ip| ip.parse().unwrap());
            assert_eq!(
                registered_address(ip, listen.parse().unwrap(), base_path),
                expected
            );
        }
        check(Some("10.0.0.5"), "0.0.0.0:9999", "", "http://10.0.0.5:9999/");
        check(
            Some("10.0.0.5"),
            "127.0.0.1:9999",
            "/exec",
            "http://10.0.0.5:9999/exec/",
        );
        check(None, "127.0.0.1:4321", "", "http://127.0.0.1:4321/");
        check(Some("::1"), "[::]:9999", "", "http://[::1]:9999/");
    }

    #[test]
    fn detected_ip_is_a_usable_ipv4_address() {
        let IpAddr::V4(ip) = detect_ip() else {
            panic!("detection returned IPv6")
        };
        assert!(!ip.is_unspecified() && !ip.is_link_local());
        let address = registered_address(None, "0.0.0.0:9999".parse().unwrap(), "");
        assert_eq!(address, format!("http://{ip}:9999/"));
    }
}
