//! The memcached parser (server port 11211: text, meta and binary) behind
//! the flow tracker.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pastmon::fuzzing::run_conversation_on;

fuzz_target!(|data: &[u8]| run_conversation_on(11211, false, data));
