//! The build context: which files of the context directory a build may see.
//!
//! Today this is the `.dockerignore` matcher ([`dockerignore`]) and the
//! lexical path cleaning it and its callers share. It does not walk or copy
//! the context; the build engine does that and asks [`DockerIgnore`] per path.

pub mod dockerignore;
mod pattern;

pub use dockerignore::{DockerIgnore, DockerIgnoreError, ParentMatches};

/// Cleans a slash-separated path lexically, exactly like Go's
/// `path/filepath.Clean` on Unix: collapses repeated `/`, drops `.`
/// elements, resolves `..` against the preceding element (at the root `/..`
/// is `/`; a relative path keeps leading `..`), drops a trailing `/`, and
/// turns the empty result into `.`.
///
/// Docker cleans `.dockerignore` patterns and COPY sources this way, so the
/// matcher must too to agree with it.
pub fn clean_path(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    // Number of leading `..` elements in `parts` that cannot be resolved.
    let mut unresolved_dotdots = 0usize;
    for element in path.split('/') {
        match element {
            "" | "." => {}
            ".." => {
                if parts.len() > unresolved_dotdots {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                    unresolved_dotdots += 1;
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::clean_path;

    #[test]
    fn clean_matches_go_filepath_clean() {
        // Cases from Go's path/filepath Clean tests.
        let cases = [
            ("", "."),
            ("abc", "abc"),
            ("abc/def", "abc/def"),
            (".", "."),
            ("..", ".."),
            ("../..", "../.."),
            ("../../abc", "../../abc"),
            ("/abc", "/abc"),
            ("/", "/"),
            ("abc/", "abc"),
            ("abc/def/", "abc/def"),
            ("a/b/c/", "a/b/c"),
            ("./", "."),
            ("../", ".."),
            ("../../", "../.."),
            ("/abc/", "/abc"),
            ("abc//def//ghi", "abc/def/ghi"),
            ("//abc", "/abc"),
            ("///abc", "/abc"),
            ("//abc//", "/abc"),
            ("abc//", "abc"),
            ("abc/./def", "abc/def"),
            ("/./abc/def", "/abc/def"),
            ("abc/.", "abc"),
            ("abc/def/ghi/../jkl", "abc/def/jkl"),
            ("abc/def/../ghi/../jkl", "abc/jkl"),
            ("abc/def/..", "abc"),
            ("abc/def/../..", "."),
            ("/abc/def/../..", "/"),
            ("abc/def/../../..", ".."),
            ("/abc/def/../../..", "/"),
            ("abc/def/../../../ghi/jkl/../../../mno", "../../mno"),
            ("/../abc", "/abc"),
            ("abc/./../def", "def"),
            ("abc//./../def", "def"),
            ("abc/../../././../def", "../../def"),
        ];
        for (input, want) in cases {
            assert_eq!(clean_path(input), want, "clean({input:?})");
        }
    }
}
