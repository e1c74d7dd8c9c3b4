//! `rbuild build`: the options of `docker build` (buildx flavour) and the glue
//! from them to the executor.

use super::build_registry;
use anyhow::{bail, Context as _, Result};
use clap::Args;
use rbuild::executor::{self, output, BuildContext, BuildRequest, Secret};
use rbuild::image::Reference;
use rbuild::layer::Compression;
use rbuild::parser::args::{BuildArgs as ArgValues, Platform};
use rbuild::progress::{Mode, Progress};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Build an image from a Dockerfile
#[derive(Args, Debug)]
#[command(
    about = "Build an image from a Dockerfile",
    override_usage = "rbuild build [OPTIONS] PATH | -"
)]
pub struct BuildArgs {
    /// Name and optionally a tag (format: "name:tag")
    #[arg(short = 't', long = "tag", value_name = "NAME[:TAG]")]
    pub tags: Vec<String>,
    /// Name of the Dockerfile (default: "PATH/Dockerfile"; "-" reads stdin)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<String>,
    /// Set build-time variables
    #[arg(long = "build-arg", value_name = "KEY[=VALUE]")]
    pub build_args: Vec<String>,
    /// Set the target build stage to build
    #[arg(long, value_name = "STAGE")]
    pub target: Option<String>,
    /// Do not use cache when building the image
    #[arg(long)]
    pub no_cache: bool,
    /// Do not cache specified stages
    #[arg(long = "no-cache-filter", value_name = "STAGE")]
    pub no_cache_filter: Vec<String>,
    /// Always attempt to pull all referenced images
    #[arg(long)]
    pub pull: bool,
    /// Push the image to its registry (-t REGISTRY/NAME:TAG) after the build
    #[arg(long)]
    pub push: bool,
    #[command(flatten)]
    pub conn: super::registry::ConnArgs,
    /// Set metadata for an image
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Set the networking mode for the RUN instructions during build
    #[arg(long, value_name = "MODE", default_value = "default")]
    pub network: String,
    /// Secret to expose to the build (format: "id=mysecret[,src=/local/secret]")
    #[arg(long = "secret", value_name = "SPEC")]
    pub secrets: Vec<String>,
    /// SSH agent socket or keys to expose to the build (format: "default|<id>[=<socket>|<key>[,<key>]]")
    #[arg(long = "ssh", value_name = "SPEC")]
    pub ssh: Vec<String>,
    /// Set type of progress output ("auto", "tty", "plain", "quiet", "rawjson")
    #[arg(long, value_name = "TYPE", default_value = "auto")]
    pub progress: String,
    /// Suppress the build output and print image ID on success
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Write the image ID to a file
    #[arg(long, value_name = "FILE")]
    pub iidfile: Option<PathBuf>,
    /// Write build result metadata to a file
    #[arg(long = "metadata-file", value_name = "FILE")]
    pub metadata_file: Option<PathBuf>,
    /// Set target platform for build
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,
    /// Output destination (format: "type=local,dest=path")
    #[arg(short = 'o', long = "output", value_name = "SPEC")]
    pub outputs: Vec<String>,
    /// Memory limit for RUN steps
    #[arg(short = 'm', long, value_name = "BYTES")]
    pub memory: Option<String>,
    /// Number of CPUs for RUN steps
    #[arg(long, value_name = "DECIMAL")]
    pub cpus: Option<String>,
    /// Tune container pids limit for RUN steps (-1 for unlimited)
    #[arg(long = "pids-limit", value_name = "N")]
    pub pids_limit: Option<i64>,
    /// Import build cache from a local layout (format: "type=local,src=DIR")
    #[arg(long = "cache-from", value_name = "SPEC")]
    pub cache_from: Vec<String>,
    /// Export build cache to a local layout (format: "type=local,dest=DIR[,mode=max]")
    #[arg(long = "cache-to", value_name = "SPEC")]
    pub cache_to: Vec<String>,
    /// Stages built in parallel at most (default: the number of CPUs)
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Layer compression: gzip, zstd or none
    #[arg(long, default_value = "gzip")]
    pub compression: Compression,
    /// Build context: a directory, or "-" for a tar archive on stdin
    #[arg(value_name = "PATH")]
    pub context: String,
}

/// Runs a build. Returns the exit code.
pub fn run(root: Option<&Path>, args: BuildArgs) -> Result<i32> {
    let started = Instant::now();
    if !nix::unistd::geteuid().is_root() {
        bail!("rbuild build needs root (it mounts overlays and runs RUN steps in a sandbox)");
    }
    // Before any thread exists: overlays mounted during the build stay private.
    executor::enter_private_mount_namespace()?;
    let store = super::image::open_store(root)?;
    let mode = if args.quiet {
        Mode::Quiet
    } else {
        Mode::from_flag(&args.progress)?
    };
    let outputs = args
        .outputs
        .iter()
        .map(|o| output::Output::parse(o))
        .collect::<Result<Vec<_>, _>>()?;
    let (context, dockerfile, dockerfile_name) = load_context(&store, &args)?;
    let build_args = ArgValues::from_cli(&args.build_args, |k| std::env::var(k).ok())?;
    let source_date_epoch = build_args
        .get("SOURCE_DATE_EPOCH")
        .map(str::to_string)
        .or_else(|| std::env::var("SOURCE_DATE_EPOCH").ok())
        .map(|v| {
            v.parse::<i64>()
                .with_context(|| format!("SOURCE_DATE_EPOCH={v:?} is not a number"))
        })
        .transpose()?;
    let platform = args.platform.as_deref().map(Platform::parse).transpose()?;
    let labels = args
        .labels
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.clone(), String::new()),
        })
        .collect();
    let extra_names: Vec<String> = outputs
        .iter()
        .filter_map(|o| match o {
            output::Output::Image(names) => Some(names.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    let tags = args
        .tags
        .iter()
        .chain(&extra_names)
        .map(|t| Reference::parse(t).with_context(|| format!("invalid tag {t:?}")))
        .collect::<Result<Vec<_>>>()?;
    let secrets = args
        .secrets
        .iter()
        .map(|s| parse_secret(s))
        .collect::<Result<Vec<_>>>()?;
    let ssh_socket = parse_ssh(&args.ssh)?;
    let memory = args.memory.as_deref().map(parse_bytes).transpose()?;
    let cpus = args
        .cpus
        .as_deref()
        .map(|c| {
            c.parse::<f64>()
                .with_context(|| format!("--cpus {c:?} is not a number"))
        })
        .transpose()?;
    if !matches!(args.network.as_str(), "default" | "none" | "host") {
        bail!("--network {:?}: use default, none or host", args.network);
    }
    let push = build_registry::wants_push(args.push, &args.outputs);
    if push {
        build_registry::check_push(&tags)?;
    }
    let conn = args.conn.options(true)?;
    let mut registry_cache =
        build_registry::RegistryCache::prepare(&store, &args.cache_from, &args.cache_to)?;
    let mut cache_from = Vec::new();
    let mut cache_to = None;
    for spec in &registry_cache.local_from {
        match rbuild::cache::parse_cache_option(spec)? {
            rbuild::cache::CacheOption::Import { src } => cache_from.push(src),
            rbuild::cache::CacheOption::Export { .. } => {
                bail!("--cache-from {spec:?}: give src=DIR (dest= is for --cache-to)")
            }
        }
    }
    for spec in &registry_cache.local_to {
        match rbuild::cache::parse_cache_option(spec)? {
            rbuild::cache::CacheOption::Export { dest, mode } => cache_to = Some((dest, mode)),
            rbuild::cache::CacheOption::Import { .. } => {
                bail!("--cache-to {spec:?}: give dest=DIR (src= is for --cache-from)")
            }
        }
    }
    registry_cache.wire(&mut cache_from, &mut cache_to);
    let req = BuildRequest {
        dockerfile,
        dockerfile_name,
        context,
        build_args,
        target: args.target.clone(),
        platform,
        labels,
        tags,
        network: args.network.clone(),
        secrets,
        ssh_socket,
        jobs: args
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        compression: args.compression,
        source_date_epoch,
        memory,
        cpus,
        pids_limit: args.pids_limit,
        no_cache: args.no_cache,
        no_cache_filter: args.no_cache_filter.clone(),
        bases: executor::BasePolicy {
            pull: args.pull,
            registry: conn.clone(),
        },
        cache_from,
        cache_to,
    };
    let progress = Progress::new(mode);
    registry_cache.import(&conn, &progress);
    let result = executor::build(&store, &req, &progress);
    let result = match result {
        Ok(r) => r,
        Err(e) => {
            progress.finish();
            eprintln!("ERROR: {e}");
            return Ok(1);
        }
    };
    let mut export = progress.step("exporting to image");
    for out in &outputs {
        if let Err(e) = output::write(&store, &result, out) {
            export.error(&e.to_string());
            progress.finish();
            eprintln!("ERROR: {e}");
            return Ok(1);
        }
    }
    export.log(&format!("writing image {} done", result.record.id));
    for t in &req.tags {
        export.log(&format!("naming to {} done", t));
    }
    export.done();
    let sent = match push {
        true => build_registry::push_tags(&store, &req.tags, &conn, &progress).map(drop),
        false => Ok(()),
    }
    .and_then(|()| registry_cache.export(&conn, &progress));
    if let Err(e) = sent {
        progress.finish();
        eprintln!("ERROR: {e}");
        return Ok(1);
    }
    progress.finish();
    let id = result.record.id.to_string();
    if let Some(f) = &args.iidfile {
        std::fs::write(f, &id).with_context(|| format!("writing {}", f.display()))?;
    }
    if let Some(f) = &args.metadata_file {
        let meta = serde_json::json!({
            "containerimage.config.digest": id,
            "containerimage.digest": result.record.manifest_digest.to_string(),
            "containerimage.descriptor": serde_json::to_value(&result.record.manifest_desc)?,
            "image.name": req.tags.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(","),
            "rbuild.base-images": result.base_images.iter().map(|b| b.pinned.clone()).collect::<Vec<_>>(),
        });
        std::fs::write(f, serde_json::to_vec_pretty(&meta)?)
            .with_context(|| format!("writing {}", f.display()))?;
    }
    if args.quiet {
        println!("{id}");
    } else if mode != Mode::Quiet {
        eprintln!(
            // The image ID (config digest), as `rbuild images` and docker show it.
            "Built {} ({}) in {:.1}s: {}",
            id,
            rbuild::image::human::size(result.record.size),
            started.elapsed().as_secs_f64(),
            if req.tags.is_empty() {
                id.clone()
            } else {
                req.tags
                    .iter()
                    .map(|t| t.familiar())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        );
    }
    Ok(0)
}

/// The context and the Dockerfile (bytes and display name) per docker's
/// rules: `PATH` with `PATH/Dockerfile` or `-f FILE`, `-f -` from stdin,
/// `-` a tar context on stdin holding the Dockerfile.
fn load_context(
    store: &rbuild::store::Store,
    args: &BuildArgs,
) -> Result<(BuildContext, Vec<u8>, String)> {
    if args.context == "-" {
        if args.file.as_deref() == Some("-") {
            bail!("cannot read both the context and the Dockerfile from stdin");
        }
        let ctx = BuildContext::from_tar(std::io::stdin().lock(), store.tmp_dir())?;
        let name = args.file.clone().unwrap_or_else(|| "Dockerfile".into());
        let bytes = ctx.read_file(&name)?;
        return Ok((ctx, bytes, name));
    }
    let dir = PathBuf::from(&args.context);
    match args.file.as_deref() {
        Some("-") => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .context("reading the Dockerfile from stdin")?;
            Ok((
                BuildContext::from_dir(&dir, None)?,
                bytes,
                "Dockerfile".into(),
            ))
        }
        Some(f) => {
            let path = PathBuf::from(f);
            let bytes = std::fs::read(&path).with_context(|| format!("reading Dockerfile {f}"))?;
            let name = path
                .file_name()
                .map_or(f.to_string(), |n| n.to_string_lossy().into_owned());
            Ok((BuildContext::from_dir(&dir, Some(&path))?, bytes, name))
        }
        None => {
            let path = dir.join("Dockerfile");
            let bytes =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            Ok((
                BuildContext::from_dir(&dir, Some(&path))?,
                bytes,
                "Dockerfile".into(),
            ))
        }
    }
}

/// `id=X[,src=FILE|,env=VAR]` (`type=file|env` accepted); with neither
/// source, the file or environment variable named like the id, as buildx.
fn parse_secret(spec: &str) -> Result<Secret> {
    let (mut id, mut src, mut env) = (None, None, None);
    for field in spec.split(',') {
        match field.split_once('=') {
            Some(("id", v)) => id = Some(v.to_string()),
            Some(("src" | "source", v)) => src = Some(v.to_string()),
            Some(("env", v)) => env = Some(v.to_string()),
            Some(("type", _)) => {}
            _ => bail!("invalid --secret {spec:?}: expected id=NAME[,src=FILE|,env=VAR]"),
        }
    }
    let id = id.with_context(|| format!("invalid --secret {spec:?}: id= is missing"))?;
    let value = match (src, env) {
        (Some(f), _) => {
            std::fs::read(&f).with_context(|| format!("reading secret {id} from {f}"))?
        }
        (None, Some(v)) => std::env::var(&v)
            .with_context(|| format!("secret {id}: environment variable {v} is not set"))?
            .into_bytes(),
        (None, None) => match std::env::var(&id) {
            Ok(v) => v.into_bytes(),
            Err(_) => bail!("secret {id}: give src=FILE or env=VAR"),
        },
    };
    Ok(Secret { id, value })
}

/// `--ssh default` (or `default=SOCKET`): the agent socket to forward.
fn parse_ssh(specs: &[String]) -> Result<Option<PathBuf>> {
    let Some(spec) = specs.first() else {
        return Ok(None);
    };
    match spec.split_once('=') {
        Some(("default", path)) => Ok(Some(PathBuf::from(path))),
        None if spec == "default" => match std::env::var_os("SSH_AUTH_SOCK") {
            Some(s) => Ok(Some(PathBuf::from(s))),
            None => bail!("--ssh default: SSH_AUTH_SOCK is not set (is an ssh-agent running?)"),
        },
        _ => bail!("--ssh {spec:?}: only 'default' or 'default=SOCKET' is supported"),
    }
}

/// `512m`, `1g`, `1048576` as bytes.
fn parse_bytes(s: &str) -> Result<u64> {
    let lower = s.to_ascii_lowercase();
    let (num, mult) = match lower.trim_end_matches('b').chars().last() {
        Some('k') => (&lower[..lower.trim_end_matches('b').len() - 1], 1u64 << 10),
        Some('m') => (&lower[..lower.trim_end_matches('b').len() - 1], 1 << 20),
        Some('g') => (&lower[..lower.trim_end_matches('b').len() - 1], 1 << 30),
        _ => (lower.trim_end_matches('b'), 1),
    };
    let n: f64 = num.parse().with_context(|| format!("invalid size {s:?}"))?;
    Ok((n * mult as f64) as u64)
}
