//! Fuzz target: the shell-word lexer (`parser::shell::Lexer`). The first
//! byte picks the escape character and options; the rest (as UTF-8) is the
//! word, expanded against a small fixed environment both as one word and as
//! fields. Errors are fine; panics, overflows and hangs are bugs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rbuild::parser::shell::Lexer;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let Ok(word) = std::str::from_utf8(rest) else { return };
    let escape = if mode & 1 == 0 { '\\' } else { '`' };
    let lexer = Lexer::new(escape).raw_quotes(mode & 2 != 0).skip_unset(mode & 4 != 0);
    let env: Vec<(String, String)> = vec![
        ("A".into(), "a b".into()),
        ("EMPTY".into(), String::new()),
        ("PATH".into(), "/usr/bin:/bin".into()),
        ("STAR".into(), "*?[x]".into()),
    ];
    let _ = lexer.process_word(word, &env);
    let _ = lexer.process_words(word, &env);
});
