//! The flow tracker, TCP reassembly and the HTTP, DNS and generic plugins on
//! arbitrary packet sequences of one conversation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pastmon::fuzzing::run_conversation;

fuzz_target!(|data: &[u8]| run_conversation(data));
