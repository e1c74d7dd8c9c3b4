//! Image commands over the local store: `import`, `images`, `tag`, `rmi`,
//! `history`, `inspect`, `save`, `load` (Docker CLI names, flags and output
//! columns), and `image SUBCOMMAND` ([`group`], with `image prune` in
//! [`prune`]). The work happens in `rbuild::store` / `rbuild::image`; this file
//! parses arguments and prints.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use rbuild::image::config::{creation_time, empty_config, push_history, source_date_epoch};
use rbuild::image::{archive, change, human, Reference};
use rbuild::layer::{self, Compression};
use rbuild::store::{default_root, ImageRecord, Removed, Store};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

mod group;
mod prune;

#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// List images
    Images(ImagesArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Remove one or more images
    Rmi(RmiArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Display detailed information on one or more containers or images
    Inspect(InspectArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Manage images (docker's "image ls|rm|inspect|history|tag|save|load|import|prune")
    #[command(subcommand)]
    Image(group::ImageGroup),
}

/// Verbs this module adds, for the default-verb logic.
pub const VERBS: &[&str] = &[
    "import", "images", "tag", "rmi", "history", "inspect", "save", "load", "image",
];

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change", value_name = "INSTRUCTION")]
    pub changes: Vec<String>,
    /// Set commit message for imported image
    #[arg(short = 'm', long = "message")]
    pub message: Option<String>,
    /// Layer compression: gzip, zstd or none
    #[arg(long, default_value = "gzip")]
    pub compression: Compression,
    /// The rootfs tarball (tar, tar.gz or tar.zst), or - for stdin
    #[arg(value_name = "FILE|-")]
    pub source: String,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub name: Option<String>,
}

#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Only images of this repository (and tag)
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub filter: Option<String>,
}

#[derive(Args, Debug)]
pub struct TagArgs {
    #[arg(value_name = "SOURCE_IMAGE[:TAG]")]
    pub source: String,
    #[arg(value_name = "TARGET_IMAGE[:TAG]")]
    pub target: String,
}

#[derive(Args, Debug)]
pub struct RmiArgs {
    /// Force removal of an image with several names
    #[arg(short, long)]
    pub force: bool,
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    pub image: String,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Format the output using a Go template: '{{.Id}}', '{{json .Config}}'
    #[arg(short, long)]
    pub format: Option<String>,
    #[arg(value_name = "NAME|ID", required = true)]
    pub images: Vec<String>,
}

/// Opens the store at `--root`, RBUILD_ROOT or the default root.
pub fn open_store(root: Option<&Path>) -> Result<Store> {
    let root: PathBuf = root.map(Path::to_path_buf).unwrap_or_else(default_root);
    Store::open(&root).with_context(|| format!("opening image store {}", root.display()))
}

pub fn run(root: Option<&Path>, cmd: ImageCommand) -> Result<i32> {
    let store = open_store(root)?;
    let cmd = match cmd {
        ImageCommand::Image(g) => match g.resolve() {
            group::Resolved::Command(c) => c,
            group::Resolved::Prune(a) => return prune::run(&store, a),
        },
        c => c,
    };
    match cmd {
        ImageCommand::Import(a) => import(&store, a),
        ImageCommand::Images(a) => images(&store, a),
        ImageCommand::Tag(a) => {
            let rec = store.resolve(&a.source)?;
            let name = Reference::parse(&a.target)?;
            store.tag(&name, &rec.manifest_desc)?;
            Ok(0)
        }
        ImageCommand::Rmi(a) => rmi(&store, a),
        ImageCommand::History(a) => history(&store, a),
        ImageCommand::Inspect(a) => {
            drop(store);
            super::volume::inspect_any(root, a.format.as_deref(), &a.images)
        }
        ImageCommand::Save(a) => save(&store, a),
        ImageCommand::Load(a) => load(&store, a),
        ImageCommand::Image(_) => {
            bail!("nested 'image' command: use 'rbuild image ls' and the like")
        }
    }
}

fn import(store: &Store, a: ImportArgs) -> Result<i32> {
    let names = match &a.name {
        Some(n) => vec![Reference::parse(n).with_context(|| format!("image name {n:?}"))?],
        None => Vec::new(),
    };
    let is_url = rbuild::executor::fetch::is_url(&a.source);
    if a.source.contains("://") && !is_url {
        bail!(
            "import from {}: only http:// and https:// URLs, local files and - (stdin) are supported",
            a.source
        );
    }
    // A URL is downloaded into the store's private tmp dir first (removed
    // with it), as `docker import URL` does.
    let input: Box<dyn Read> = if is_url {
        let fetched = rbuild::executor::fetch::fetch(&a.source, store.tmp_dir(), None)?;
        let file = std::fs::File::open(&fetched.file)
            .with_context(|| format!("opening the download of {}", a.source))?;
        // The open file stays readable after the name is gone.
        let _ = std::fs::remove_file(&fetched.file);
        Box::new(file)
    } else if a.source == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::fs::File::open(&a.source).with_context(|| format!("opening {}", a.source))?)
    };
    let tar = layer::open_layer_stream(std::io::BufReader::new(input))
        .with_context(|| format!("reading {}", a.source))?;
    let (desc, blob) = store
        .put_layer_from_tar(tar, a.compression)
        .with_context(|| format!("importing {}", a.source))?;
    // SOURCE_DATE_EPOCH (environment) fixes `created` and the history time,
    // so importing the same tar twice gives the same image.
    let epoch = source_date_epoch(None)?;
    let now = creation_time(epoch);
    let mut config = empty_config(now);
    for ch in &a.changes {
        change::apply_change(&mut config, ch)?;
    }
    let comment = a
        .message
        .clone()
        // A local file is streamed as docker's CLI does, so its path (which
        // differs between machines) is not in the image: "Imported from -".
        .unwrap_or_else(|| {
            if is_url {
                format!("Imported from {}", a.source)
            } else {
                "Imported from -".to_string()
            }
        });
    push_history(&mut config, Some(&blob.diff_id), now, "", Some(&comment))?;
    let rec = store.put_image(&config, vec![desc], &names)?;
    println!("{}", rec.id);
    Ok(0)
}

fn images(store: &Store, a: ImagesArgs) -> Result<i32> {
    let filter = a
        .filter
        .as_deref()
        .map(Reference::parse_name_only)
        .transpose()?;
    let now = SystemTime::now();
    let id_of = |r: &ImageRecord| {
        if a.no_trunc {
            r.id.to_string()
        } else {
            r.id.short().to_string()
        }
    };
    let mut rows: Vec<[String; 6]> = Vec::new();
    let mut ids: Vec<String> = Vec::new();
    for rec in store.list()? {
        let mut names: Vec<Option<&Reference>> = rec.names.iter().map(Some).collect();
        if names.is_empty() {
            names.push(None);
        }
        for n in names {
            if let Some(f) = &filter {
                let same_repo = n.is_some_and(|n| n.repository() == f.repository());
                let tag_ok = f.tag().is_none() || n.and_then(|n| n.tag()) == f.tag();
                if !(same_repo && tag_ok) {
                    continue;
                }
            }
            if !ids.contains(&id_of(&rec)) {
                ids.push(id_of(&rec));
            }
            let created = rec
                .created
                .and_then(|c| now.duration_since(c).ok())
                .map(|d| format!("{} ago", human::duration(d)))
                .unwrap_or_else(|| "N/A".into());
            rows.push([
                n.map(|n| n.familiar_repository())
                    .unwrap_or_else(|| "<none>".into()),
                n.and_then(|n| n.tag()).unwrap_or("<none>").to_string(),
                if n.is_some() {
                    rec.manifest_digest.to_string()
                } else {
                    "<none>".into()
                },
                id_of(&rec),
                created,
                human::size(rec.size),
            ]);
        }
    }
    if a.quiet {
        for id in ids {
            println!("{id}");
        }
        return Ok(0);
    }
    let mut header = vec!["REPOSITORY", "TAG", "DIGEST", "IMAGE ID", "CREATED", "SIZE"];
    let keep = |i: usize| a.digests || i != 2;
    let cols: Vec<usize> = (0..6).filter(|&i| keep(i)).collect();
    header.retain(|h| a.digests || *h != "DIGEST");
    let table: Vec<Vec<String>> = std::iter::once(header.iter().map(|h| h.to_string()).collect())
        .chain(
            rows.iter()
                .map(|r| cols.iter().filter_map(|&i| r.get(i).cloned()).collect()),
        )
        .collect();
    print_table(&table)?;
    Ok(0)
}

/// Prints aligned columns like Docker's table output.
pub fn print_table(rows: &[Vec<String>]) -> Result<()> {
    let ncols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..ncols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = std::io::stdout().lock();
    for r in rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            if i + 1 == r.len() {
                line.push_str(cell);
            } else {
                // Docker's tabwriter: min width 10, padding 3.
                let w = (widths.get(i).copied().unwrap_or(0) + 3).max(10);
                line.push_str(&format!("{cell:<w$}"));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

fn rmi(store: &Store, a: RmiArgs) -> Result<i32> {
    let mut code = 0;
    for name in &a.images {
        match store.remove(name, a.force) {
            Ok(effects) => {
                for e in effects {
                    match e {
                        Removed::Untagged(r) => println!("Untagged: {}", r.familiar()),
                        Removed::Deleted(id) => println!("Deleted: {id}"),
                    }
                }
            }
            Err(e) => {
                eprintln!("Error response: {e}");
                code = 1;
            }
        }
    }
    Ok(code)
}

fn history(store: &Store, a: HistoryArgs) -> Result<i32> {
    let rec = store.resolve(&a.image)?;
    let history = rec.config.history().clone().unwrap_or_default();
    let mut sizes = rec.manifest.layers().iter().map(|l| l.size());
    let now = SystemTime::now();
    let mut rows: Vec<Vec<String>> = Vec::new();
    for h in &history {
        let size = if h.empty_layer().unwrap_or(false) {
            0
        } else {
            sizes.next().unwrap_or(0)
        };
        let created = h
            .created()
            .as_deref()
            .and_then(rbuild::image::config::parse_rfc3339)
            .and_then(|c| now.duration_since(c).ok())
            .map(|d| format!("{} ago", human::duration(d)))
            .unwrap_or_default();
        let mut by = h.created_by().clone().unwrap_or_default();
        if !a.no_trunc && by.chars().count() > 45 {
            by = by.chars().take(44).collect::<String>() + "…";
        }
        rows.push(vec![
            "<missing>".into(),
            created,
            by,
            human::size(size),
            h.comment().clone().unwrap_or_default(),
        ]);
    }
    rows.reverse();
    if let Some(top) = rows.first_mut() {
        top[0] = if a.no_trunc {
            rec.id.to_string()
        } else {
            rec.id.short().to_string()
        };
    }
    if a.quiet {
        for r in &rows {
            println!("{}", r[0]);
        }
        return Ok(0);
    }
    let header = ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]
        .map(String::from)
        .to_vec();
    let table: Vec<Vec<String>> = std::iter::once(header).chain(rows).collect();
    print_table(&table)?;
    Ok(0)
}

#[derive(Args, Debug)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Archive format: docker-archive or oci-archive
    #[arg(long, default_value = "docker-archive")]
    pub format: archive::ArchiveFormat,
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
}

#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short, long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Suppress the load output
    #[arg(short, long)]
    pub quiet: bool,
}

fn save(store: &Store, a: SaveArgs) -> Result<i32> {
    let recs = a
        .images
        .iter()
        .map(|n| store.resolve(n))
        .collect::<Result<Vec<_>, _>>()?;
    match &a.output {
        Some(path) => {
            let tmp = path.with_extension("rbuild-partial");
            let f = std::fs::File::create(&tmp)
                .with_context(|| format!("creating {}", tmp.display()))?;
            archive::save(store, &recs, a.format, std::io::BufWriter::new(f))?;
            std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
        }
        None => {
            if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                bail!("refusing to write an archive to a terminal: use -o FILE or redirect stdout");
            }
            archive::save(
                store,
                &recs,
                a.format,
                std::io::BufWriter::new(std::io::stdout().lock()),
            )?;
        }
    }
    Ok(0)
}

fn load(store: &Store, a: LoadArgs) -> Result<i32> {
    let input: Box<dyn Read> = match &a.input {
        Some(p) => {
            Box::new(std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?)
        }
        None => Box::new(std::io::stdin().lock()),
    };
    let recs = archive::load(
        store,
        std::io::BufReader::new(input),
        Compression::default(),
    )?;
    if !a.quiet {
        for r in recs {
            if r.names.is_empty() {
                println!("Loaded image ID: {}", r.id);
            }
            for n in &r.names {
                println!("Loaded image: {}", n.familiar());
            }
        }
    }
    Ok(0)
}
