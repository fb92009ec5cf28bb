//! The watched servers: `ADDRESS[/LEN][:PORTS]`, IPv6 in brackets, ports as
//! a list of ports and ranges. Examples: `10.0.0.5:80,443`,
//! `192.168.0.0/16`, `[2001:db8::]/64:8000-8100,443`.

use pastmon_common::xdp::{mapped_v4, mapped_v4_prefix_len, PortRange, WatchedAddr, WatchedPorts, MAX_PORT_RANGES};
use std::net::IpAddr;
use std::str::FromStr;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watch {
    pub addr: IpAddr,
    pub prefix_len: u8,
    /// Inclusive port ranges; all ports when the spec names none.
    pub ports: Vec<(u16, u16)>,
}

impl Watch {
    /// The trie key (prefix length, mapped address) and value of this entry.
    pub fn trie_entry(&self) -> (u32, WatchedAddr, WatchedPorts) {
        let (len, addr) = match self.addr {
            IpAddr::V4(a) => (mapped_v4_prefix_len(u32::from(self.prefix_len)), mapped_v4(a.octets())),
            IpAddr::V6(a) => (u32::from(self.prefix_len), a.octets()),
        };
        let mut ports = WatchedPorts { count: self.ports.len() as u32, ..WatchedPorts::default() };
        for (slot, &(first, last)) in ports.ranges.iter_mut().zip(&self.ports) {
            *slot = PortRange { first, last };
        }
        (len, addr, ports)
    }
}

impl FromStr for Watch {
    type Err = String;

    fn from_str(spec: &str) -> Result<Watch, String> {
        let bad =
            |why: &str| format!("watched server {spec:?}: {why} (expected ADDRESS[/LEN][:PORTS], IPv6 in [brackets])");
        // Split off the ports: after "]" for IPv6, after the only ":" for IPv4.
        let (prefix, ports) = if let Some(rest) = spec.strip_prefix('[') {
            let (addr, after) = rest.split_once(']').ok_or_else(|| bad("no closing bracket"))?;
            let (len, ports) = match after.split_once(':') {
                Some((len, ports)) => (len, Some(ports)),
                None => (after, None),
            };
            (format!("{addr}{len}"), ports)
        } else {
            match spec.split_once(':') {
                Some((prefix, ports)) => (prefix.to_owned(), Some(ports)),
                None => (spec.to_owned(), None),
            }
        };
        let (addr, len) = match prefix.split_once('/') {
            Some((addr, len)) => (addr, Some(len)),
            None => (prefix.as_str(), None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad("not an IP address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix_len = match len {
            Some(len) => len.parse::<u8>().ok().filter(|l| *l <= max).ok_or_else(|| bad("bad prefix length"))?,
            None => max,
        };
        let ports = match ports {
            None => vec![(0, u16::MAX)],
            Some(list) => list
                .split(',')
                .map(|item| {
                    let (first, last) = item.split_once('-').unwrap_or((item, item));
                    match (first.trim().parse::<u16>(), last.trim().parse::<u16>()) {
                        (Ok(f), Ok(l)) if f <= l => Ok((f, l)),
                        _ => Err(bad(&format!("bad port or range {item:?}"))),
                    }
                })
                .collect::<Result<Vec<_>, _>>()?,
        };
        if ports.len() > MAX_PORT_RANGES {
            return Err(bad(&format!("at most {MAX_PORT_RANGES} ports or ranges per address")));
        }
        Ok(Watch { addr, prefix_len, ports })
    }
}

impl<'de> serde::Deserialize<'de> for Watch {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Watch, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_addresses_prefixes_and_ports() {
        let w: Watch = "10.0.0.5:80,443,8000-8100".parse().unwrap();
        assert_eq!(w.prefix_len, 32);
        assert_eq!(w.ports, vec![(80, 80), (443, 443), (8000, 8100)]);
        let (len, addr, ports) = w.trie_entry();
        assert_eq!((len, addr[10..].to_vec()), (128, vec![0xff, 0xff, 10, 0, 0, 5]));
        assert!(ports.contains(8050) && ports.contains(443) && !ports.contains(444));

        let w: Watch = "192.168.0.0/16".parse().unwrap();
        assert_eq!((w.prefix_len, w.ports.clone()), (16, vec![(0, 65535)]));
        assert_eq!(w.trie_entry().0, 112);

        let w: Watch = "[2001:db8::]/64:443".parse().unwrap();
        assert_eq!((w.prefix_len, w.ports), (64, vec![(443, 443)]));
        let w: Watch = "[2001:db8::1]".parse().unwrap();
        assert_eq!(w.prefix_len, 128);
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        for (spec, why) in [
            ("10.0.0.300", "not an IP address"),
            ("10.0.0.0/33", "bad prefix length"),
            ("10.0.0.1:80-70", "bad port or range"),
            ("2001:db8::1:80", "not an IP address"),
            ("[2001:db8::1:80", "no closing bracket"),
            ("10.0.0.1:1,2,3,4,5,6,7,8,9", "at most 8"),
        ] {
            let err = spec.parse::<Watch>().unwrap_err();
            assert!(err.contains(why), "{spec}: {err}");
        }
    }
}
