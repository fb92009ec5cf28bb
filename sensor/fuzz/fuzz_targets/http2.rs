//! The HTTP/2 parser (gRPC's port 50051: frames from the first byte or
//! resynchronised midstream, HPACK) behind the flow tracker.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pastmon::fuzzing::run_conversation_on;

fuzz_target!(|data: &[u8]| run_conversation_on(50051, false, data));
