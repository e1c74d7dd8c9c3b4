//! Cache keys, BuildKit's model: a step's [`CacheKey`] is a sha256 over its
//! parent's key, the instruction *after* variable expansion (in a canonical
//! form: no spans, line numbers, comments or the keyword's casing), the ENV
//! and ARG values the step can see, its options (network, user, workdir,
//! shell, platform, mounts) and the digests of its content inputs (COPY/ADD
//! sources, bind-mount sources, URL downloads, the base image's manifest).
//!
//! Nothing that depends on the machine goes in: no times, inodes, absolute
//! host paths or host names. Secret values and cache-mount contents are never
//! inputs (secret mounts contribute only their id and target names).
//! This module computes keys; it does not look them up ([`super::index`]).

use super::content::ContentHash;
use crate::image::Digest;
use crate::parser::instructions::{
    CommandLine, Healthcheck, Instruction, Mount, MountType, NetworkMode, SecurityMode, Sharing,
};
use sha2::{Digest as _, Sha256};
use std::fmt;
use std::str::FromStr;

/// Bumped whenever the key encoding or what a record holds changes, so old
/// records simply miss (v2: records keep the whole config blob; before, a
/// hit would have lost Healthcheck, OnBuild and Shell).
const KEY_VERSION: &str = "rbuild-cache-key/v2";

/// A step's cache key: 64 lowercase hex digits of a sha256.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheKey(String);

impl CacheKey {
    /// The 64 hex digits.
    pub fn hex(&self) -> &str {
        &self.0
    }

    /// The first 12 hex digits, for progress and `system df` output.
    pub fn short(&self) -> &str {
        self.0.get(..12).unwrap_or(&self.0)
    }
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A string that is not 64 lowercase hex digits.
#[derive(Debug, thiserror::Error)]
#[error("invalid cache key {0:?}: expected 64 lowercase hex digits")]
pub struct BadCacheKey(pub String);

impl FromStr for CacheKey {
    type Err = BadCacheKey;
    fn from_str(s: &str) -> Result<CacheKey, BadCacheKey> {
        let ok = s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if ok {
            Ok(CacheKey(s.to_string()))
        } else {
            Err(BadCacheKey(s.to_string()))
        }
    }
}

/// Collects a step's inputs and hashes them into a [`CacheKey`].
///
/// The order in which *different kinds* of inputs are added does not matter
/// (fields are sorted by kind before hashing); the order of several inputs of
/// the same kind (e.g. two COPY sources) does. ENV/ARG values are sorted by
/// name, since the process environment is a set.
///
/// ```
/// use rbuild::cache::KeyBuilder;
/// use rbuild::image::Digest;
/// let base = KeyBuilder::base_image(&Digest::of_bytes(b"manifest"), "linux/amd64");
/// let run = KeyBuilder::child(&base)
///     .instruction_text("RUN", &["make"])
///     .env([("PATH", "/bin")])
///     .option("workdir", "/src")
///     .build();
/// assert_ne!(base, run);
/// ```
#[derive(Clone, Debug)]
pub struct KeyBuilder {
    fields: Vec<(&'static str, Vec<String>)>,
    env: Vec<(String, String)>,
}

impl KeyBuilder {
    fn empty() -> KeyBuilder {
        KeyBuilder {
            fields: Vec::new(),
            env: Vec::new(),
        }
    }

    /// The key of `FROM image`: the image's manifest digest and the platform.
    /// `--pull` changes it exactly when the re-resolved digest changes.
    pub fn base_image(manifest_digest: &Digest, platform: &str) -> CacheKey {
        KeyBuilder::empty()
            .field("from-image", vec![manifest_digest.to_string()])
            .option("platform", platform)
            .build()
    }

    /// The key of `FROM scratch` for `platform`.
    pub fn scratch(platform: &str) -> CacheKey {
        KeyBuilder::empty()
            .field("from-scratch", Vec::new())
            .option("platform", platform)
            .build()
    }

    /// A builder for a step on top of `parent` (the previous step's key, or
    /// the FROM key; for `FROM earlier-stage`, that stage's last key).
    pub fn child(parent: &CacheKey) -> KeyBuilder {
        KeyBuilder::empty().field("parent", vec![parent.0.clone()])
    }

    /// The instruction, already expanded, in canonical form (see
    /// [`canonical_instruction`]).
    pub fn instruction(self, instruction: &Instruction) -> KeyBuilder {
        self.field("instruction", canonical_instruction(instruction))
    }

    /// The instruction given as its keyword and canonical words, for callers
    /// that do not hold a parsed [`Instruction`] (e.g. ONBUILD triggers).
    pub fn instruction_text(self, keyword: &str, words: &[&str]) -> KeyBuilder {
        let mut v = vec![keyword.to_ascii_uppercase()];
        v.extend(words.iter().map(|w| w.to_string()));
        self.field("instruction", v)
    }

    /// Variables the step can see: the image's ENV plus the ARGs in scope
    /// (with their values). An ARG declared but not in scope must not be
    /// passed. Later duplicates of a name win, as in an environment.
    pub fn env<K: AsRef<str>, V: AsRef<str>>(
        mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> KeyBuilder {
        for (k, v) in vars {
            let (k, v) = (k.as_ref().to_string(), v.as_ref().to_string());
            self.env.retain(|(name, _)| name != &k);
            self.env.push((k, v));
        }
        self
    }

    /// A named option: `network`, `user`, `workdir`, `shell` (the words
    /// joined by NUL), `platform`, `security`, `chown` resolved to ids, etc.
    pub fn option(self, name: &str, value: &str) -> KeyBuilder {
        self.field("option", vec![name.to_string(), value.to_string()])
    }

    /// The content of the sources a COPY/ADD selects (from the context or
    /// from another stage's filesystem).
    pub fn sources(self, hash: &ContentHash) -> KeyBuilder {
        self.field("sources", vec![hash.to_string()])
    }

    /// `ADD URL`: the downloaded content's digest, or the `--checksum` value.
    pub fn url_content(self, url: &str, digest: &Digest) -> KeyBuilder {
        self.field("url", vec![url.to_string(), digest.to_string()])
    }

    /// A `RUN --mount`. Bind mounts pass the content hash of the bound source;
    /// cache, tmpfs, secret and ssh mounts pass `None` (their contents are
    /// never part of a key; a secret contributes only its id and target).
    pub fn mount(self, m: &Mount, bound_content: Option<&ContentHash>) -> KeyBuilder {
        let mut v = canonical_mount(m);
        if m.kind == MountType::Bind {
            if let Some(h) = bound_content {
                v.push(format!("content={h}"));
            }
        }
        self.field("mount", v)
    }

    /// Another step's result used as an input (e.g. `COPY --from=stage` when
    /// the caller keys by the stage's key instead of hashing its files).
    pub fn dependency(self, label: &str, key: &CacheKey) -> KeyBuilder {
        self.field("dependency", vec![label.to_string(), key.0.clone()])
    }

    fn field(mut self, kind: &'static str, values: Vec<String>) -> KeyBuilder {
        self.fields.push((kind, values));
        self
    }

    /// Hashes everything added so far.
    pub fn build(mut self) -> CacheKey {
        // Stable sort: kinds in a fixed order, same-kind inputs in call order.
        self.fields.sort_by_key(|(kind, _)| *kind);
        self.env.sort();
        let mut h = Sha256::new();
        put(&mut h, KEY_VERSION);
        for (kind, values) in &self.fields {
            put(&mut h, kind);
            put(&mut h, &values.len().to_string());
            for v in values {
                put(&mut h, v);
            }
        }
        put(&mut h, "env");
        put(&mut h, &self.env.len().to_string());
        for (k, v) in &self.env {
            put(&mut h, k);
            put(&mut h, v);
        }
        CacheKey(hex::encode(h.finalize()))
    }
}

/// Length-prefixed, so that field boundaries cannot be forged by content.
fn put(h: &mut Sha256, s: &str) {
    h.update((s.len() as u64).to_le_bytes());
    h.update(s.as_bytes());
}

/// The instruction as a list of strings that depends only on what it does:
/// the keyword, then its arguments and flags in a fixed order. Spans, the
/// keyword's casing, the legacy `ENV k v` form and the source text are left
/// out, so moving a line or editing a comment elsewhere keeps the key.
pub fn canonical_instruction(i: &Instruction) -> Vec<String> {
    let mut v = vec![i.name().to_string()];
    let opt = |o: &Option<String>| o.clone().unwrap_or_default();
    match i {
        Instruction::From(f) => {
            v.extend([f.image.clone(), opt(&f.name), opt(&f.platform)]);
        }
        Instruction::Run(r) => {
            command_line(&mut v, &r.command);
            v.push(format!("network={}", network(r.network)));
            v.push(format!("security={}", security(r.security)));
            for m in &r.mounts {
                v.push(canonical_mount(m).join(","));
            }
        }
        Instruction::Cmd(c) | Instruction::Entrypoint(c) => command_line(&mut v, c),
        Instruction::Shell(words) | Instruction::Volume(words) | Instruction::Expose(words) => {
            v.extend(words.iter().cloned())
        }
        Instruction::Label(kvs) | Instruction::Env(kvs) => {
            for kv in kvs {
                v.extend([kv.key.clone(), kv.value.clone()]);
            }
        }
        Instruction::Maintainer(s)
        | Instruction::User(s)
        | Instruction::Workdir(s)
        | Instruction::StopSignal(s) => v.push(s.clone()),
        Instruction::Add(a) => {
            copy_fields(&mut v, &a.copy);
            v.extend([
                format!("checksum={}", opt(&a.checksum)),
                format!("keep-git-dir={}", a.keep_git_dir),
            ]);
        }
        Instruction::Copy(c) => copy_fields(&mut v, c),
        Instruction::Arg(decls) => {
            for d in decls {
                v.extend([d.key.clone(), format!("{:?}", d.default)]);
            }
        }
        Instruction::Onbuild(o) => v.push(o.expression.clone()),
        Instruction::Healthcheck(Healthcheck::None) => v.push("NONE".into()),
        Instruction::Healthcheck(Healthcheck::Cmd(c)) => {
            v.extend(c.test.iter().cloned());
            for d in [c.interval, c.timeout, c.start_period, c.start_interval] {
                v.push(format!("{:?}", d.map(|d| d.as_nanos())));
            }
            v.push(format!("{:?}", c.retries));
        }
    }
    v
}

fn command_line(v: &mut Vec<String>, c: &CommandLine) {
    v.push(if c.prepend_shell { "shell" } else { "exec" }.into());
    v.push(c.args.len().to_string());
    v.extend(c.args.iter().cloned());
    for h in &c.heredocs {
        v.extend([
            format!("heredoc={}", h.name),
            h.content.clone(),
            format!("expand={} chomp={}", h.expand, h.chomp),
        ]);
    }
}

fn copy_fields(v: &mut Vec<String>, c: &crate::parser::instructions::Copy) {
    let opt = |o: &Option<String>| o.clone().unwrap_or_default();
    v.push(c.sources.len().to_string());
    v.extend(c.sources.iter().cloned());
    for s in &c.contents {
        v.extend([
            format!("content={}", s.path),
            s.data.clone(),
            s.expand.to_string(),
        ]);
    }
    v.extend([
        format!("dest={}", c.dest),
        format!("from={}", opt(&c.from)),
        format!("chown={}", opt(&c.chown)),
        format!("chmod={}", opt(&c.chmod)),
        format!("link={} parents={}", c.link, c.parents),
    ]);
    v.extend(c.exclude.iter().map(|e| format!("exclude={e}")));
}

fn network(n: Option<NetworkMode>) -> &'static str {
    match n {
        None | Some(NetworkMode::Default) => "default",
        Some(NetworkMode::None) => "none",
        Some(NetworkMode::Host) => "host",
    }
}

fn security(s: Option<SecurityMode>) -> &'static str {
    match s {
        None | Some(SecurityMode::Sandbox) => "sandbox",
        Some(SecurityMode::Insecure) => "insecure",
    }
}

/// A mount spec as key material. Secrets keep only names (id, target, env),
/// never anything that could carry the secret's value.
fn canonical_mount(m: &Mount) -> Vec<String> {
    let opt = |o: &Option<String>| o.clone().unwrap_or_default();
    let mut v = vec![
        format!("type={}", m.kind.as_str()),
        format!("target={}", opt(&m.target)),
        format!("id={}", opt(&m.id)),
    ];
    match m.kind {
        MountType::Secret | MountType::Ssh => {
            v.push(format!("env={}", opt(&m.env)));
            v.push(format!("required={}", m.required));
        }
        MountType::Bind | MountType::Cache | MountType::Tmpfs => {
            let sharing = match m.sharing {
                None => "",
                Some(Sharing::Shared) => "shared",
                Some(Sharing::Private) => "private",
                Some(Sharing::Locked) => "locked",
            };
            v.extend([
                format!("source={}", opt(&m.source)),
                format!("from={}", opt(&m.from)),
                format!("ro={}", m.read_only),
                format!("sharing={sharing}"),
                format!("mode={:?} uid={:?} gid={:?}", m.mode, m.uid, m.gid),
                format!("size={:?}", m.size),
            ]);
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> CacheKey {
        KeyBuilder::base_image(&Digest::of_bytes(b"m"), "linux/amd64")
    }

    #[test]
    fn key_parses_back_and_rejects_junk() {
        let k = base();
        assert_eq!(k.hex().parse::<CacheKey>().ok(), Some(k.clone()));
        assert!("xyz".parse::<CacheKey>().is_err());
        assert!("A".repeat(64).parse::<CacheKey>().is_err());
        assert_eq!(k.short().len(), 12);
    }

    #[test]
    fn kinds_commute_but_each_input_counts() {
        let a = KeyBuilder::child(&base())
            .option("user", "1")
            .env([("A", "1"), ("B", "2")])
            .instruction_text("RUN", &["x"])
            .build();
        let b = KeyBuilder::child(&base())
            .instruction_text("run", &["x"])
            .env([("B", "2"), ("A", "1")])
            .option("user", "1")
            .build();
        assert_eq!(a, b);
        let c = KeyBuilder::child(&base())
            .instruction_text("RUN", &["x"])
            .env([("A", "1"), ("B", "3")])
            .option("user", "1")
            .build();
        assert_ne!(a, c);
        // Field boundaries cannot be shifted.
        let d = KeyBuilder::child(&base())
            .instruction_text("RUN", &["ab", "c"])
            .build();
        let e = KeyBuilder::child(&base())
            .instruction_text("RUN", &["a", "bc"])
            .build();
        assert_ne!(d, e);
    }

    #[test]
    fn secret_mount_has_no_room_for_values() {
        let m = crate::parser::instructions::parse_mount("type=secret,id=tok,target=/t", None)
            .unwrap_or_else(|e| panic!("{e}"));
        let v = canonical_mount(&m);
        assert!(v.iter().all(|s| !s.contains("source")), "{v:?}");
    }
}
