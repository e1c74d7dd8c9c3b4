//! Fuzz target: arbitrary bytes into the Dockerfile parser and, when they
//! parse, into the dump. Any panic, overflow or hang is a bug; errors are fine.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match rbuild::parser::parse(data) {
        Ok(df) => {
            let text = rbuild::parser::dump(&df);
            assert_eq!(text.lines().count(), df.nodes.len());
            for node in &df.nodes {
                assert!(node.span.start_line >= 1 && node.span.start_line <= node.span.end_line);
            }
        }
        Err(err) => assert!(err.line() >= 1),
    }
});
