//! Cache key rules, step by step, through the real parser and real files:
//! a tiny stand-in for the executor walks a Dockerfile and computes each
//! step's key with `rbuild::cache`, then the tests change one input at a
//! time and check exactly which steps miss.

use rbuild::cache::{hash_selection, CacheKey, KeyBuilder, MetadataRecord, Selection};
use rbuild::context::DockerIgnore;
use rbuild::image::Digest;
use rbuild::parser::instructions::{parse_dockerfile, Instruction};
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// Keys of every step of the last stage (FROM first).
fn keys(
    dockerfile: &str,
    ctx: &Path,
    base_digest: &str,
    build_args: &[(&str, &str)],
) -> Vec<CacheKey> {
    let df = rbuild::parser::parse(dockerfile.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let parsed = parse_dockerfile(&df).unwrap_or_else(|e| panic!("{e}"));
    let ignore = DockerIgnore::load(ctx, None).unwrap_or_else(|e| panic!("{e}"));
    let record = MetadataRecord::in_memory();
    let stage = parsed.stages.last().expect("a stage");
    let mut key = KeyBuilder::base_image(&Digest::of_bytes(base_digest.as_bytes()), "linux/amd64");
    let mut out = vec![key.clone()];
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    for cmd in &stage.commands {
        let mut b = KeyBuilder::child(&key).instruction(&cmd.instruction);
        match &cmd.instruction {
            Instruction::Arg(decls) => {
                for d in decls {
                    let given = build_args
                        .iter()
                        .find(|(k, _)| *k == d.key)
                        .map(|(_, v)| v.to_string());
                    let v = given.or(d.default.clone()).unwrap_or_default();
                    env.insert(d.key.clone(), v);
                }
            }
            Instruction::Env(kvs) => {
                for kv in kvs {
                    env.insert(kv.key.clone(), kv.value.clone());
                }
            }
            Instruction::Run(_) => b = b.env(env.iter()),
            Instruction::Copy(c) => {
                let sel = Selection::context(ctx, c.sources.clone(), Some(&ignore));
                let (h, _) = hash_selection(&sel, &record).unwrap_or_else(|e| panic!("{e}"));
                b = b.sources(&h);
            }
            _ => {}
        }
        key = b.build();
        out.push(key.clone());
    }
    out
}

const DF: &str = "FROM busybox\n\
ARG VERSION=1\n\
RUN echo prepare\n\
COPY app/ /app/\n\
RUN echo $VERSION\n\
COPY conf.txt /etc/conf.txt\n\
ENV A=b\n\
RUN echo done\n";

fn context() -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    fs::create_dir_all(d.path().join("app/src")).expect("mkdir");
    fs::write(d.path().join("app/src/main.c"), "int main(){}\n").expect("write");
    fs::write(d.path().join("app/README"), "readme\n").expect("write");
    fs::write(d.path().join("app/notes.tmp"), "scratch\n").expect("write");
    fs::write(d.path().join("conf.txt"), "x=1\n").expect("write");
    fs::write(d.path().join("unrelated.txt"), "u\n").expect("write");
    fs::write(d.path().join(".dockerignore"), "app/*.tmp\n").expect("write");
    d
}

/// Index of the first differing key, or None.
fn first_miss(a: &[CacheKey], b: &[CacheKey]) -> Option<usize> {
    assert_eq!(a.len(), b.len());
    let first = a.iter().zip(b).position(|(x, y)| x != y)?;
    // Once a step misses, every later step misses too (keys chain).
    assert!(
        a.iter().zip(b).skip(first).all(|(x, y)| x != y),
        "a later step hit after a miss"
    );
    Some(first)
}

#[test]
fn same_inputs_same_keys_and_comments_do_not_count() {
    let ctx = context();
    let base = keys(DF, ctx.path(), "m1", &[]);
    assert_eq!(base, keys(DF, ctx.path(), "m1", &[]));
    let commented = DF.replace(
        "RUN echo prepare\n",
        "# a comment\n\n   RUN   echo prepare\n\n",
    );
    assert_eq!(
        first_miss(&base, &keys(&commented, ctx.path(), "m1", &[])),
        None
    );
    let lower = DF.replace("ENV A=b", "env A=b");
    assert_eq!(
        first_miss(&base, &keys(&lower, ctx.path(), "m1", &[])),
        None
    );
}

#[test]
fn each_instruction_change_misses_from_that_step() {
    let ctx = context();
    let base = keys(DF, ctx.path(), "m1", &[]);
    let run = DF.replace("echo done", "echo finished");
    assert_eq!(
        first_miss(&base, &keys(&run, ctx.path(), "m1", &[])),
        Some(7)
    );
    let env = DF.replace("A=b", "A=c");
    assert_eq!(
        first_miss(&base, &keys(&env, ctx.path(), "m1", &[])),
        Some(6)
    );
    assert_eq!(first_miss(&base, &keys(DF, ctx.path(), "m2", &[])), Some(0));
}

#[test]
fn a_changed_file_misses_only_the_steps_that_copy_it() {
    let ctx = context();
    let base = keys(DF, ctx.path(), "m1", &[]);
    fs::write(ctx.path().join("conf.txt"), "x=2\n").expect("write");
    assert_eq!(first_miss(&base, &keys(DF, ctx.path(), "m1", &[])), Some(5));
    fs::write(ctx.path().join("conf.txt"), "x=1\n").expect("write");
    assert_eq!(first_miss(&base, &keys(DF, ctx.path(), "m1", &[])), None);
    fs::write(ctx.path().join("app/src/main.c"), "int main(){return 1;}\n").expect("write");
    assert_eq!(first_miss(&base, &keys(DF, ctx.path(), "m1", &[])), Some(3));
}

#[test]
fn unselected_ignored_and_metadata_only_changes_hit() {
    let ctx = context();
    let base = keys(DF, ctx.path(), "m1", &[]);
    fs::write(ctx.path().join("unrelated.txt"), "changed\n").expect("write");
    fs::write(
        ctx.path().join("app/notes.tmp"),
        "ignored by .dockerignore\n",
    )
    .expect("write");
    let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
    let f = fs::File::options()
        .write(true)
        .open(ctx.path().join("conf.txt"))
        .expect("open");
    f.set_modified(old).expect("set mtime");
    assert_eq!(first_miss(&base, &keys(DF, ctx.path(), "m1", &[])), None);
}

#[test]
fn a_new_file_in_a_copied_dir_misses_and_a_mode_change_misses() {
    let ctx = context();
    let base = keys(DF, ctx.path(), "m1", &[]);
    fs::write(ctx.path().join("app/new.c"), "").expect("write");
    assert_eq!(first_miss(&base, &keys(DF, ctx.path(), "m1", &[])), Some(3));
    fs::remove_file(ctx.path().join("app/new.c")).expect("rm");
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(
        ctx.path().join("conf.txt"),
        fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");
    assert_eq!(first_miss(&base, &keys(DF, ctx.path(), "m1", &[])), Some(5));
}

#[test]
fn build_args_count_only_where_visible() {
    let ctx = context();
    let base = keys(DF, ctx.path(), "m1", &[]);
    // VERSION is in scope after the ARG (step 1); the first RUN after it
    // (step 2) gets it in its environment even though it does not use it, as
    // in BuildKit. The ARG step itself keys the declaration, not the value.
    let v2 = keys(DF, ctx.path(), "m1", &[("VERSION", "2")]);
    assert_eq!(first_miss(&base, &v2), Some(2));
    // An ARG the Dockerfile does not declare changes nothing.
    let other = keys(DF, ctx.path(), "m1", &[("UNUSED", "x")]);
    assert_eq!(first_miss(&base, &other), None);
}

#[test]
fn keys_do_not_depend_on_where_the_context_lives() {
    let a = context();
    let b = context();
    // Different directories, different inodes and mtimes, same content.
    assert_eq!(keys(DF, a.path(), "m1", &[]), keys(DF, b.path(), "m1", &[]));
}

/// Runs the last stage against a real cache: a hit reuses the record, a miss
/// "runs" the step (a layer with the step's key as content) and records it.
/// Returns which steps hit.
fn build(cache: &rbuild::cache::Cache, df: &str, ctx: &Path) -> Vec<bool> {
    let ks = keys(df, ctx, "m1", &[]);
    ks.iter()
        .skip(1)
        .map(|k| {
            if cache.lookup(k).expect("lookup").is_some() {
                return true;
            }
            let layer = stored_layer(cache.store(), k.hex());
            let mut config = rbuild::image::config::empty_config(std::time::UNIX_EPOCH);
            let diff = rbuild::image::DiffId(layer.diff_id.clone());
            rbuild::image::config::push_history(
                &mut config,
                Some(&diff),
                std::time::UNIX_EPOCH,
                "step",
                None,
            )
            .expect("history");
            let result = rbuild::cache::StepResult {
                config_json: &rbuild::image::config::canonical_json(&config).expect("config JSON"),
                layers: vec![layer],
                new_layer: true,
                description: String::new(),
            };
            cache.put(k, &result).expect("put");
            false
        })
        .collect()
}

fn stored_layer(store: &rbuild::store::Store, content: &str) -> rbuild::cache::LayerRef {
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_size(content.len() as u64);
    h.set_mode(0o644);
    tar.append_data(&mut h, "data", content.as_bytes())
        .expect("tar");
    let tar = tar.into_inner().expect("tar");
    let (desc, blob) = store
        .put_layer_from_tar(&tar[..], rbuild::layer::Compression::Gzip)
        .expect("layer");
    rbuild::cache::LayerRef::new(&desc, &blob.diff_id).expect("layer ref")
}

#[test]
fn rebuilds_hit_and_miss_step_by_step() {
    let ctx = context();
    let root = tempfile::tempdir().expect("store dir");
    let store = rbuild::store::Store::open(root.path()).expect("store");
    let cache = rbuild::cache::Cache::open(&store).expect("cache");
    assert_eq!(build(&cache, DF, ctx.path()), vec![false; 7], "cold build");
    assert_eq!(
        build(&cache, DF, ctx.path()),
        vec![true; 7],
        "no-op rebuild"
    );
    fs::write(ctx.path().join("conf.txt"), "x=3\n").expect("write");
    // ARG, RUN, COPY app, RUN hit; COPY conf.txt and what follows rebuild.
    let expect = [true, true, true, true, false, false, false];
    assert_eq!(build(&cache, DF, ctx.path()), expect);
    assert_eq!(build(&cache, DF, ctx.path()), vec![true; 7]);
    // Going back to the old content hits the old records again.
    fs::write(ctx.path().join("conf.txt"), "x=1\n").expect("write");
    assert_eq!(build(&cache, DF, ctx.path()), vec![true; 7]);
    let commented = format!("# syntax note\n{DF}\n# trailing comment\n");
    assert_eq!(build(&cache, &commented, ctx.path()), vec![true; 7]);
}

#[test]
fn mounts_urls_and_secrets() {
    use rbuild::cache::ContentHash;
    use rbuild::parser::instructions::parse_mount;
    let parent = KeyBuilder::scratch("linux/amd64");
    let h1 = ContentHash(Digest::of_bytes(b"one"));
    let h2 = ContentHash(Digest::of_bytes(b"two"));
    let with = |spec: &str, h: &ContentHash| {
        let m = parse_mount(spec, None).unwrap_or_else(|e| panic!("{e}"));
        KeyBuilder::child(&parent)
            .instruction_text("RUN", &["make"])
            .mount(&m, Some(h))
            .build()
    };
    // A bind mount's source content is an input.
    let bind = "type=bind,source=src,target=/src";
    assert_ne!(with(bind, &h1), with(bind, &h2));
    // Cache mount and secret contents are never inputs, even if passed.
    for spec in [
        "type=cache,target=/root/.cache",
        "type=secret,id=token,target=/run/secrets/token",
        "type=tmpfs,target=/tmp",
    ] {
        assert_eq!(with(spec, &h1), with(spec, &h2), "{spec}");
    }
    // But the mount spec itself is: a different target or id misses.
    assert_ne!(
        with("type=cache,target=/a", &h1),
        with("type=cache,target=/b", &h1)
    );
    assert_ne!(with("type=secret,id=a", &h1), with("type=secret,id=b", &h1));
    // ADD URL: the downloaded content (or --checksum) decides.
    let url = |d: &[u8]| {
        KeyBuilder::child(&parent)
            .instruction_text("ADD", &["https://example.com/a.tgz", "/a"])
            .url_content("https://example.com/a.tgz", &Digest::of_bytes(d))
            .build()
    };
    assert_eq!(url(b"v1"), url(b"v1"));
    assert_ne!(url(b"v1"), url(b"v2"));
    // Options: each one counts.
    let opt = |k: &str, v: &str| KeyBuilder::child(&parent).option(k, v).build();
    for k in ["user", "workdir", "network", "shell", "platform"] {
        assert_ne!(opt(k, "a"), opt(k, "b"), "{k}");
    }
}
