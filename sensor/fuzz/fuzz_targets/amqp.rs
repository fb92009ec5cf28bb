//! The AMQP 0-9-1 parser (server port 5672) behind the flow tracker.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pastmon::fuzzing::run_conversation_on;

fuzz_target!(|data: &[u8]| run_conversation_on(5672, false, data));
