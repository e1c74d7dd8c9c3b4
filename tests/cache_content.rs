//! Content hashing of COPY sources on real files: what the hash ignores
//! (mtime, inode, absolute path, host owner for context files), what it sees
//! (content, mode, names, symlink targets, ownership kept with --from),
//! selection rules (wildcards, --exclude, .dockerignore, errors naming the
//! source), and the metadata record: unchanged files are not re-read, even
//! across store reopenings, but a file whose ctime changed is.

use rbuild::cache::{hash_selection, Cache, ContentHash, MetadataRecord, Ownership, Selection};
use rbuild::context::DockerIgnore;
use rbuild::store::Store;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

fn tree(root: &Path) {
    fs::create_dir_all(root.join("src/lib")).expect("mkdir");
    fs::write(root.join("src/a.c"), "a").expect("write");
    fs::write(root.join("src/b.h"), "bb").expect("write");
    fs::write(root.join("src/lib/c.c"), "ccc").expect("write");
    std::os::unix::fs::symlink("a.c", root.join("src/link")).expect("symlink");
    fs::write(root.join("top.txt"), "top").expect("write");
}

fn hash(root: &Path, sources: &[&str]) -> ContentHash {
    try_hash(root, sources, &[]).unwrap_or_else(|e| panic!("{e}"))
}

fn try_hash(root: &Path, sources: &[&str], exclude: &[&str]) -> Result<ContentHash, String> {
    let ignore = DockerIgnore::load(root, None).map_err(|e| e.to_string())?;
    let mut sel = Selection::context(
        root,
        sources.iter().map(|s| s.to_string()).collect(),
        Some(&ignore),
    );
    sel.exclude = exclude.iter().map(|s| s.to_string()).collect();
    hash_selection(&sel, &MetadataRecord::in_memory())
        .map(|(h, _)| h)
        .map_err(|e| e.to_string())
}

#[test]
fn ignores_mtime_inode_and_location() {
    let a = tempfile::tempdir().expect("tempdir");
    let b = tempfile::tempdir().expect("tempdir");
    tree(a.path());
    tree(b.path());
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(12345);
    fs::File::options()
        .write(true)
        .open(b.path().join("src/a.c"))
        .and_then(|f| f.set_modified(old))
        .expect("mtime");
    // A rewrite gives a new inode with the same content.
    fs::remove_file(b.path().join("src/b.h")).expect("rm");
    fs::write(b.path().join("src/b.h"), "bb").expect("write");
    assert_eq!(hash(a.path(), &["src"]), hash(b.path(), &["src"]));
    assert_eq!(
        hash(a.path(), &["src", "top.txt"]),
        hash(b.path(), &["./src/", "/top.txt"])
    );
}

#[test]
fn sees_content_mode_names_and_link_targets() {
    let d = tempfile::tempdir().expect("tempdir");
    tree(d.path());
    let base = hash(d.path(), &["src"]);
    let check = |what: &str, change: &dyn Fn(), undo: &dyn Fn()| {
        change();
        assert_ne!(
            hash(d.path(), &["src"]),
            base,
            "{what} did not change the hash"
        );
        undo();
        assert_eq!(
            hash(d.path(), &["src"]),
            base,
            "undoing {what} did not restore it"
        );
    };
    let p = d.path().to_path_buf();
    check(
        "content",
        &|| fs::write(p.join("src/lib/c.c"), "cCc").expect("w"),
        &|| fs::write(p.join("src/lib/c.c"), "ccc").expect("w"),
    );
    check(
        "mode",
        &|| {
            fs::set_permissions(p.join("src/a.c"), fs::Permissions::from_mode(0o700))
                .expect("chmod")
        },
        &|| {
            fs::set_permissions(p.join("src/a.c"), fs::Permissions::from_mode(0o644))
                .expect("chmod")
        },
    );
    check(
        "name",
        &|| fs::rename(p.join("src/b.h"), p.join("src/b2.h")).expect("mv"),
        &|| fs::rename(p.join("src/b2.h"), p.join("src/b.h")).expect("mv"),
    );
    check(
        "link target",
        &|| {
            fs::remove_file(p.join("src/link")).expect("rm");
            std::os::unix::fs::symlink("b.h", p.join("src/link")).expect("ln");
        },
        &|| {
            fs::remove_file(p.join("src/link")).expect("rm");
            std::os::unix::fs::symlink("a.c", p.join("src/link")).expect("ln");
        },
    );
    // A file outside the selection does not count.
    fs::write(p.join("top.txt"), "changed").expect("w");
    assert_eq!(hash(d.path(), &["src"]), base);
}

#[test]
fn non_utf8_names_are_read_and_kept_apart() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let d = tempfile::tempdir().expect("tempdir");
    fs::create_dir(d.path().join("dir")).expect("mkdir");
    fs::write(d.path().join("dir").join(OsStr::from_bytes(b"a\xff")), "x").expect("write");
    let first = hash(d.path(), &["dir"]);
    fs::rename(
        d.path().join("dir").join(OsStr::from_bytes(b"a\xff")),
        d.path().join("dir").join(OsStr::from_bytes(b"a\xfe")),
    )
    .expect("rename");
    assert_ne!(
        hash(d.path(), &["dir"]),
        first,
        "renamed non-UTF-8 file, same hash"
    );
}

#[test]
fn ownership_as_written() {
    let d = tempfile::tempdir().expect("tempdir");
    tree(d.path());
    let sources = vec!["src".to_string()];
    let h = |owner| {
        let mut sel = Selection::context(d.path(), sources.clone(), None);
        sel.owner = owner;
        hash_selection(&sel, &MetadataRecord::in_memory())
            .expect("hash")
            .0
    };
    let root = h(Ownership::Fixed { uid: 0, gid: 0 });
    assert_ne!(
        root,
        h(Ownership::Fixed {
            uid: 1000,
            gid: 1000
        })
    );
    // Preserve (COPY --from) uses the files' own ids: ours are 0:0 as root.
    if nix::unistd::geteuid().is_root() {
        assert_eq!(root, h(Ownership::Preserve));
        std::os::unix::fs::lchown(d.path().join("src/a.c"), Some(7), Some(7)).expect("chown");
        assert_ne!(root, h(Ownership::Preserve));
        assert_eq!(root, h(Ownership::Fixed { uid: 0, gid: 0 }));
    }
}

#[test]
fn wildcards_excludes_and_dockerignore() {
    let d = tempfile::tempdir().expect("tempdir");
    tree(d.path());
    let c_files = hash(d.path(), &["src/*.c"]);
    assert_eq!(c_files, hash(d.path(), &["src/a.c"]));
    fs::write(d.path().join("src/b.h"), "changed").expect("w");
    assert_eq!(hash(d.path(), &["src/*.c"]), c_files, "b.h is not selected");
    let all = try_hash(d.path(), &["src"], &[]).expect("hash");
    let excl = try_hash(d.path(), &["src"], &["*.h"]).expect("hash");
    assert_ne!(all, excl);
    fs::write(d.path().join("src/b.h"), "changed again").expect("w");
    assert_eq!(try_hash(d.path(), &["src"], &["*.h"]).expect("hash"), excl);
    fs::write(d.path().join(".dockerignore"), "src/lib\n").expect("w");
    let ignored = hash(d.path(), &["src"]);
    fs::write(d.path().join("src/lib/c.c"), "ignored change").expect("w");
    assert_eq!(hash(d.path(), &["src"]), ignored);
    let e = try_hash(d.path(), &["src/lib/c.c"], &[]).expect_err("ignored source");
    assert!(
        e.contains("src/lib/c.c") && e.contains(".dockerignore"),
        "{e}"
    );
}

#[test]
fn bad_sources_are_errors_naming_them() {
    let d = tempfile::tempdir().expect("tempdir");
    tree(d.path());
    let e = try_hash(d.path(), &["missing.txt"], &[]).expect_err("missing");
    assert!(e.contains("missing.txt"), "{e}");
    let e = try_hash(d.path(), &["../etc/passwd"], &[]).expect_err("outside");
    assert!(e.contains("outside the build context"), "{e}");
    let e = try_hash(d.path(), &["*.none"], &[]).expect_err("no match");
    assert!(e.contains("*.none"), "{e}");
    // A symlinked source resolves inside the context, never to the host.
    std::os::unix::fs::symlink("/src", d.path().join("abs")).expect("ln");
    let through_link = hash(d.path(), &["abs"]);
    fs::write(d.path().join("src/a.c"), "changed through the link").expect("w");
    assert_ne!(
        hash(d.path(), &["abs"]),
        through_link,
        "link target not read"
    );
    // A wildcard match that is a symlink is read through it as well, but
    // keeps its own name in the hash (it names what is written).
    std::os::unix::fs::symlink("top.txt", d.path().join("alias.txt")).expect("ln");
    let alias = hash(d.path(), &["alias.*"]);
    assert_ne!(alias, hash(d.path(), &["top.*"]));
    fs::write(d.path().join("top.txt"), "new top").expect("w");
    assert_ne!(
        hash(d.path(), &["alias.*"]),
        alias,
        "wildcard link target not read"
    );
    std::os::unix::fs::symlink("/etc", d.path().join("etc-link")).expect("ln");
    let e = try_hash(d.path(), &["etc-link/passwd"], &[]).expect_err("confined");
    assert!(e.contains("etc-link/passwd"), "{e}");
}

#[test]
fn metadata_record_skips_unchanged_files_but_rereads_on_ctime() {
    let d = tempfile::tempdir().expect("tempdir");
    tree(d.path());
    let root = tempfile::tempdir().expect("store dir");
    let sources = vec!["src".to_string(), "top.txt".to_string()];
    let run = || {
        let store = Store::open(root.path()).expect("store");
        let cache = Cache::open(&store).expect("cache");
        let mut rec = cache.context_record(d.path()).expect("record");
        rec.set_racy_window(Duration::ZERO);
        let sel = Selection::context(d.path(), sources.clone(), None);
        let out = hash_selection(&sel, &rec).expect("hash");
        rec.save(&store).expect("save");
        out
    };
    let (h1, s1) = run();
    assert_eq!((s1.files_read, s1.files_reused), (4, 0));
    // A new process (store reopened): nothing is read again.
    let (h2, s2) = run();
    assert_eq!(h1, h2);
    assert_eq!((s2.files_read, s2.files_reused, s2.bytes_read), (0, 4, 0));
    // Same size, same mtime, new content: only ctime tells.
    let f = d.path().join("src/lib/c.c");
    let mtime = fs::metadata(&f).and_then(|m| m.modified()).expect("mtime");
    fs::write(&f, "CCC").expect("w");
    fs::File::options()
        .write(true)
        .open(&f)
        .and_then(|h| h.set_modified(mtime))
        .expect("restore mtime");
    let (h3, s3) = run();
    assert_eq!((s3.files_read, s3.files_reused), (1, 3));
    assert_ne!(h3, h1, "the changed file was not re-read");
}

#[test]
fn xattrs_are_hashed_as_copy_writes_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    tree(root);
    let plain = hash(root, &["src"]);
    let file = root.join("src/a.c");
    if let Err(e) = xattr::set(&file, "user.origin", b"one") {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "user xattrs on {}: {e} (CI=true)",
            root.display()
        );
        eprintln!("SKIP: no user xattrs on {}: {e}", root.display());
        return;
    }
    let one = hash(root, &["src"]);
    assert_ne!(plain, one, "an added xattr must change the hash");
    xattr::set(&file, "user.origin", b"two").expect("set xattr");
    let two = hash(root, &["src"]);
    assert_ne!(one, two, "a changed xattr value must change the hash");
    // A file outside the selection does not matter.
    xattr::set(root.join("top.txt"), "user.x", b"1").expect("set xattr");
    assert_eq!(two, hash(root, &["src"]));
    // overlayfs' own xattrs never reach a layer, so they are not hashed.
    xattr::set(&file, "user.overlay.origin", b"x").expect("set xattr");
    assert_eq!(two, hash(root, &["src"]));
    xattr::remove(&file, "user.origin").expect("remove xattr");
    xattr::remove(&file, "user.overlay.origin").expect("remove xattr");
    assert_eq!(plain, hash(root, &["src"]), "back to no xattrs");
}

#[test]
fn hardlink_grouping_is_hashed_without_inode_numbers() {
    let make = |root: &Path, linked: bool| {
        fs::create_dir_all(root.join("d")).expect("mkdir");
        fs::write(root.join("d/a"), "same").expect("write");
        if linked {
            fs::hard_link(root.join("d/a"), root.join("d/b")).expect("link");
        } else {
            fs::write(root.join("d/b"), "same").expect("write");
        }
        fs::write(root.join("d/c"), "other").expect("write");
    };
    let (x, y, z) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    make(x.path(), true);
    make(y.path(), true);
    make(z.path(), false);
    let linked = hash(x.path(), &["d"]);
    assert_eq!(
        linked,
        hash(y.path(), &["d"]),
        "same grouping, other inodes"
    );
    assert_ne!(linked, hash(z.path(), &["d"]), "linked vs two copies");
    // A link to a file outside the selection is just a file.
    fs::hard_link(z.path().join("d/c"), z.path().join("outside")).expect("link");
    let before = hash(z.path(), &["d"]);
    fs::remove_file(z.path().join("outside")).expect("unlink");
    assert_eq!(before, hash(z.path(), &["d"]));
    // Relinking b to c (other content) changes it again.
    fs::remove_file(x.path().join("d/b")).expect("unlink");
    fs::hard_link(x.path().join("d/c"), x.path().join("d/b")).expect("link");
    assert_ne!(linked, hash(x.path(), &["d"]));
}
