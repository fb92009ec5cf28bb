//! The Kafka parser (server port 9092) behind the flow tracker.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pastmon::fuzzing::run_conversation_on;

fuzz_target!(|data: &[u8]| run_conversation_on(9092, false, data));
