//! Container IDs and names: 64 random hex digits shown as 12, docker's name
//! rule, and generated `adjective_surname` names. No I/O beyond the kernel's
//! random source; uniqueness is the container store's job.

use super::RunnerError;

/// Length of the short ID shown by `ps` and friends.
pub const SHORT_ID_LEN: usize = 12;

/// A new random container ID (64 hex digits). Retries until the ID is not
/// all digits, as docker does, so it can never be mistaken for a number.
pub fn new_id() -> Result<String, RunnerError> {
    loop {
        let mut bytes = [0u8; 32];
        getrandom(&mut bytes)?;
        let id = hex::encode(bytes);
        if !id.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(id);
        }
    }
}

fn getrandom(buf: &mut [u8]) -> Result<(), RunnerError> {
    let mut filled = 0;
    while filled < buf.len() {
        let rest = buf.get_mut(filled..).unwrap_or_default();
        // SAFETY: the pointer and length describe a valid writable slice.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(RunnerError::Io {
                path: "getrandom".into(),
                source: e,
            });
        }
        filled += n as usize;
    }
    Ok(())
}

/// The 12-digit form of an ID.
pub fn short(id: &str) -> &str {
    id.get(..SHORT_ID_LEN).unwrap_or(id)
}

/// Checks a user-given name against docker's rule
/// `[a-zA-Z0-9][a-zA-Z0-9_.-]+` (a leading `/` is accepted and dropped).
pub fn validate_name(name: &str) -> Result<String, RunnerError> {
    let n = name.strip_prefix('/').unwrap_or(name);
    let mut chars = n.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok =
        n.len() >= 2 && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if first_ok && rest_ok {
        Ok(n.to_string())
    } else {
        Err(RunnerError::InvalidName(name.to_string()))
    }
}

const ADJECTIVES: &[&str] = &[
    "admiring",
    "brave",
    "clever",
    "dazzling",
    "eager",
    "focused",
    "gallant",
    "happy",
    "jolly",
    "keen",
    "lucid",
    "modest",
    "nifty",
    "optimistic",
    "quirky",
    "relaxed",
    "serene",
    "tender",
    "upbeat",
    "vibrant",
    "wizardly",
    "youthful",
    "zealous",
    "bold",
];
const SURNAMES: &[&str] = &[
    "albattani",
    "babbage",
    "curie",
    "darwin",
    "euler",
    "feynman",
    "galileo",
    "hopper",
    "ishango",
    "jennings",
    "knuth",
    "lovelace",
    "meitner",
    "noether",
    "ohm",
    "pascal",
    "ritchie",
    "shannon",
    "turing",
    "varahamihira",
    "wozniak",
    "yalow",
    "zhukovsky",
    "lamport",
];

/// A docker-style generated name (`brave_turing`); `attempt` > 0 appends a
/// digit, as docker does after a collision.
pub fn generated_name(attempt: u32) -> Result<String, RunnerError> {
    let mut b = [0u8; 2];
    getrandom(&mut b)?;
    let adj = ADJECTIVES
        .get(usize::from(b[0]) % ADJECTIVES.len())
        .unwrap_or(&"brave");
    let sur = SURNAMES
        .get(usize::from(b[1]) % SURNAMES.len())
        .unwrap_or(&"turing");
    Ok(if attempt == 0 {
        format!("{adj}_{sur}")
    } else {
        format!("{adj}_{sur}{attempt}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_64_hex_and_distinct() {
        let a = new_id().unwrap_or_default();
        let b = new_id().unwrap_or_default();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert_eq!(short(&a).len(), 12);
    }

    #[test]
    fn names_follow_docker_rule() {
        assert_eq!(validate_name("/web-1").ok().as_deref(), Some("web-1"));
        assert!(validate_name("my_db.2").is_ok());
        for bad in ["", "a", "-x", "a b", "x/y", "_x", "é1"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
        let g = generated_name(0).unwrap_or_default();
        assert!(validate_name(&g).is_ok(), "{g}");
        assert!(generated_name(3).unwrap_or_default().ends_with('3'));
    }
}
