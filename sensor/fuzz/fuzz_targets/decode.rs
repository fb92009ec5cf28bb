//! The decoder on arbitrary bytes, for every link type.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pastmon::capture::LinkType;
use pastmon::decode::decode;

fuzz_target!(|data: &[u8]| {
    for link in [LinkType::Ethernet, LinkType::RawIp, LinkType::LinuxSll, LinkType::LinuxSll2, LinkType::Null] {
        if let Ok(p) = decode(link, data) {
            assert!(p.payload.len() <= p.payload_len as usize);
        }
    }
});
