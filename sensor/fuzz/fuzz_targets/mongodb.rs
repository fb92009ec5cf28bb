//! The MongoDB parser (server port 27017: OP_MSG, OP_QUERY, OP_REPLY)
//! behind the flow tracker.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pastmon::fuzzing::run_conversation_on;

fuzz_target!(|data: &[u8]| run_conversation_on(27017, false, data));
