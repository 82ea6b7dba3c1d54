#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| optlab_fuzz::trace_json(data));
