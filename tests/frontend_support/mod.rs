//! Helpers shared by the frontend_* integration tests: parse Dockerfile text
//! with the real parser and type it.

#![allow(dead_code)]

use rbuild::parser::instructions::{
    parse_dockerfile, parse_instruction, Command, Instruction, InstructionError, ParsedDockerfile,
};
use rbuild::parser::parse;

/// Types the first instruction of `src`.
pub fn typed(src: &str) -> Result<Command, InstructionError> {
    let df = parse(src.as_bytes()).unwrap_or_else(|e| panic!("raw parse of {src:?}: {e}"));
    parse_instruction(df.nodes.first().expect("one instruction"))
}

/// Types the first instruction of `src`, which must succeed.
pub fn instr(src: &str) -> Instruction {
    typed(src)
        .unwrap_or_else(|e| panic!("{src:?}: {e}"))
        .instruction
}

/// The error message for the first instruction of `src`, which must fail.
pub fn error(src: &str) -> InstructionError {
    match typed(src) {
        Ok(c) => panic!("{src:?} should fail, got {:?}", c.instruction),
        Err(e) => e,
    }
}

/// Types a whole file.
pub fn file(src: &str) -> ParsedDockerfile {
    let df = parse(src.as_bytes()).unwrap_or_else(|e| panic!("raw parse: {e}"));
    parse_dockerfile(&df).unwrap_or_else(|e| panic!("typing: {e}"))
}

/// The (name, value) pairs of an ARG instruction.
pub fn arg_pairs(instruction: &Instruction) -> Vec<(String, Option<String>)> {
    match instruction {
        Instruction::Arg(decls) => decls
            .iter()
            .map(|d| (d.key.clone(), d.default.clone()))
            .collect(),
        other => panic!("not an ARG: {other:?}"),
    }
}

/// Shorthand for expected [`arg_pairs`].
pub fn pairs(expected: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
    expected
        .iter()
        .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
        .collect()
}
