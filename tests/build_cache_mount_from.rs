//! `RUN --mount=type=cache,from=STAGE,source=PATH`: a new cache starts as a
//! copy of that stage's directory (contents, owners), keeps what RUN steps
//! add to it across steps, is never committed, and is a different cache
//! from the same id without a seed (BuildKit keys seeded caches by their
//! base too).

mod build_support;

use build_support::{read, World};

#[test]
fn cache_mount_seeded_from_a_stage() {
    if !build_support::ready("cache_mount_seeded_from_a_stage") {
        return;
    }
    let w = World::new();
    let fs = w.build_fs(
        "FROM localhost/busybox AS seed\n\
         RUN mkdir -p /opt/seed/sub && echo seeded > /opt/seed/sub/f && chown 1000:50 /opt/seed/sub/f\n\
         FROM localhost/busybox\n\
         RUN --mount=type=cache,id=c1,target=/cache,from=seed,source=/opt/seed \\\n\
             cat /cache/sub/f > /got && stat -c %u:%g /cache/sub/f >> /got && echo more > /cache/added\n\
         RUN --mount=type=cache,id=c1,target=/cache,from=seed,source=/opt/seed ls /cache > /second\n\
         RUN --mount=type=cache,id=c1,target=/cache ls /cache > /plain\n",
        &[],
    );
    assert_eq!(read(&fs.join("got")), "seeded\n1000:50\n");
    assert_eq!(read(&fs.join("second")), "added\nsub\n");
    assert_eq!(read(&fs.join("plain")), "");
    assert!(!fs.join("cache/added").exists() && !fs.join("cache/sub").exists());

    let err = w.build_fails(
        "FROM localhost/busybox AS seed\n\
         FROM localhost/busybox\n\
         RUN --mount=type=cache,target=/c,from=seed,source=/etc/passwd true\n",
        &[],
    );
    assert!(err.contains("not a directory"), "{err}");
}
