//! The TLS parser (server port 443) behind the flow tracker.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pastmon::fuzzing::run_conversation_on;

fuzz_target!(|data: &[u8]| run_conversation_on(443, false, data));
