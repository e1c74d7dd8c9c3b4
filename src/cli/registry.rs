//! Registry commands: `pull`, `push`, `login`, `logout`, `search` (Docker CLI
//! names, flags and output). The work happens in `rbuild::registry`; this
//! file parses arguments, reads passwords and prints.

use super::image::open_store;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use rbuild::image::Reference;
use rbuild::registry::{
    self, Credentials, ManifestFormat, Platform, ProgressMode, PullOptions, PushOptions,
    RegistryOptions,
};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

#[derive(Subcommand, Debug)]
pub enum RegistryCommand {
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Log in to a registry
    Login(LoginArgs),
    /// Log out from a registry
    Logout(LogoutArgs),
    /// Search Docker Hub for images (or HOST/TERM: a registry's catalog)
    Search(SearchArgs),
}

/// Verbs this module adds, for the default-verb logic.
pub const VERBS: &[&str] = &["pull", "push", "login", "logout", "search"];

/// Connection flags shared by the registry commands.
#[derive(Args, Debug, Clone)]
pub struct ConnArgs {
    /// Require HTTPS and verify certificates (false also allows plain HTTP)
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub tls_verify: bool,
    /// Directory with extra CA certificates (*.crt) for the registry
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,
    /// Credentials USER[:PASSWORD] instead of the Docker config file
    #[arg(long, value_name = "USER[:PASSWORD]")]
    pub creds: Option<String>,
    /// Also allow plain HTTP / unverified TLS for this registry (repeatable;
    /// added to $RBUILD_INSECURE_REGISTRIES or localhost/127.0.0.1)
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub insecure_registries: Vec<String>,
}

impl ConnArgs {
    pub(super) fn options(&self, quiet: bool) -> Result<RegistryOptions> {
        let credentials = match &self.creds {
            None => None,
            Some(c) => {
                let (user, pass) = match c.split_once(':') {
                    Some((u, p)) => (u.to_string(), p.to_string()),
                    None => (c.clone(), read_password_prompt()?),
                };
                Some(Credentials {
                    username: user,
                    secret: pass,
                })
            }
        };
        let insecure_registries = if self.insecure_registries.is_empty() {
            None
        } else {
            let mut list = registry::default_insecure_registries();
            list.extend(self.insecure_registries.iter().cloned());
            Some(list)
        };
        Ok(RegistryOptions {
            tls_verify: self.tls_verify,
            insecure_registries,
            cert_dir: self.cert_dir.clone(),
            credentials,
            progress: if quiet {
                ProgressMode::Quiet
            } else {
                ProgressMode::Auto
            },
            ..RegistryOptions::default()
        })
    }
}

#[derive(Args, Debug)]
pub struct PullArgs {
    /// Platform to pull from a multi-platform image (os/arch[/variant])
    #[arg(long, value_name = "PLATFORM", env = "DOCKER_DEFAULT_PLATFORM")]
    pub platform: Option<String>,
    /// Suppress verbose output
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[arg(value_name = "NAME[:TAG|@DIGEST]")]
    pub image: String,
}

#[derive(Args, Debug)]
pub struct PushArgs {
    /// Manifest format: oci or docker (v2 schema 2); default: as stored
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Upload blobs in chunks instead of one request each
    #[arg(long)]
    pub chunked: bool,
    /// Suppress verbose output
    #[arg(short, long)]
    pub quiet: bool,
    /// Write the pushed manifest's digest to this file
    #[arg(long, value_name = "FILE")]
    pub digestfile: Option<PathBuf>,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// Destination (default: IMAGE itself)
    #[arg(value_name = "DESTINATION")]
    pub destination: Option<String>,
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Username
    #[arg(short, long)]
    pub username: Option<String>,
    /// Password (visible in the process list: prefer --password-stdin)
    #[arg(short, long)]
    pub password: Option<String>,
    /// Take the password from stdin
    #[arg(long)]
    pub password_stdin: bool,
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Registry (default: Docker Hub)
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

#[derive(Args, Debug)]
pub struct LogoutArgs {
    /// Registry (default: Docker Hub)
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

#[derive(Args, Debug)]
pub struct SearchArgs {
    /// Max number of search results
    #[arg(long, default_value_t = 25)]
    pub limit: usize,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[arg(value_name = "TERM")]
    pub term: String,
}

pub fn run(root: Option<&Path>, cmd: RegistryCommand) -> Result<i32> {
    match cmd {
        RegistryCommand::Pull(a) => pull(root, a),
        RegistryCommand::Push(a) => push(root, a),
        RegistryCommand::Login(a) => login(a),
        RegistryCommand::Logout(a) => {
            let server = a.server.as_deref().unwrap_or("docker.io");
            if registry::logout(server)? {
                println!("Removing login credentials for {server}");
            } else {
                println!("Not logged in to {server}");
            }
            Ok(0)
        }
        RegistryCommand::Search(a) => search(a),
    }
}

fn pull(root: Option<&Path>, a: PullArgs) -> Result<i32> {
    let store = open_store(root)?;
    let reference =
        Reference::parse(&a.image).with_context(|| format!("image name {:?}", a.image))?;
    let platform = a
        .platform
        .as_deref()
        .filter(|p| !p.is_empty())
        .map(str::parse::<Platform>)
        .transpose()?;
    let opts = PullOptions {
        registry: a.conn.options(a.quiet)?,
        platform,
        max_concurrent: 0,
    };
    let rec = registry::pull(&store, &reference, &opts)?;
    println!("{reference}");
    log::debug!("pulled {} (id {})", rec.manifest_digest, rec.id);
    Ok(0)
}

fn push(root: Option<&Path>, a: PushArgs) -> Result<i32> {
    let store = open_store(root)?;
    let dest_text = a.destination.as_deref().unwrap_or(&a.image);
    let dest_text = dest_text.strip_prefix("docker://").unwrap_or(dest_text);
    let dest = Reference::parse(dest_text).with_context(|| format!("destination {dest_text:?}"))?;
    let format = a
        .format
        .as_deref()
        .map(str::parse::<ManifestFormat>)
        .transpose()?;
    let opts = PushOptions {
        registry: a.conn.options(a.quiet)?,
        format,
        chunked: a.chunked,
        max_concurrent: 0,
    };
    let res = registry::push(&store, &a.image, &dest, &opts)?;
    if let Some(f) = &a.digestfile {
        std::fs::write(f, res.digest.as_str())
            .with_context(|| format!("writing {}", f.display()))?;
    }
    if a.quiet {
        println!("{}", res.digest);
    }
    Ok(0)
}

fn login(a: LoginArgs) -> Result<i32> {
    let server = a.server.clone().unwrap_or_else(|| "docker.io".into());
    if a.password.is_some() && a.password_stdin {
        bail!("--password and --password-stdin are mutually exclusive");
    }
    let username = match &a.username {
        Some(u) => u.clone(),
        None if a.password_stdin => bail!("--password-stdin needs --username"),
        None => prompt("Username: ")?,
    };
    if username.is_empty() {
        bail!("username is empty");
    }
    let password = if a.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else if let Some(p) = &a.password {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        p.clone()
    } else {
        read_password_prompt()?
    };
    if password.is_empty() {
        bail!("password is empty");
    }
    let creds = Credentials {
        username,
        secret: password,
    };
    let path = registry::login(&server, &creds, &a.conn.options(true)?)?;
    eprintln!("Credentials saved in {}", path.display());
    println!("Login Succeeded");
    Ok(0)
}

fn prompt(label: &str) -> Result<String> {
    if !std::io::stdin().is_terminal() {
        bail!("cannot prompt for input: stdin is not a terminal (use --username/--password-stdin)");
    }
    eprint!("{label}");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Reads a password from the terminal without echo.
fn read_password_prompt() -> Result<String> {
    use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
    if !std::io::stdin().is_terminal() {
        bail!("cannot prompt for a password: stdin is not a terminal (use --password-stdin)");
    }
    let stdin = std::io::stdin();
    let saved = tcgetattr(&stdin).context("reading terminal settings")?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    tcsetattr(&stdin, SetArg::TCSANOW, &quiet).context("turning off echo")?;
    eprint!("Password: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    let _ = tcsetattr(&stdin, SetArg::TCSANOW, &saved);
    eprintln!();
    read.context("reading the password")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn search(a: SearchArgs) -> Result<i32> {
    let results = registry::search(&a.term, a.limit, &a.conn.options(true)?)?;
    let mut rows: Vec<Vec<String>> = vec![["NAME", "DESCRIPTION", "STARS", "OFFICIAL"]
        .map(String::from)
        .to_vec()];
    for r in results {
        let mut desc = r.description.replace('\n', " ");
        if !a.no_trunc && desc.chars().count() > 45 {
            desc = desc.chars().take(44).collect::<String>() + "…";
        }
        rows.push(vec![
            r.name,
            desc,
            r.stars.to_string(),
            if r.official {
                "[OK]".into()
            } else {
                String::new()
            },
        ]);
    }
    super::image::print_table(&rows)?;
    Ok(0)
}

/// The image `rbuild run` starts, per docker's `--pull`: `missing` pulls an
/// image the store lacks, `always` pulls even a stored one (only what
/// changed is downloaded), `never` uses the store only. Pull progress goes
/// to stderr, so the container's stdout stays its own.
pub(super) fn image_for_run(
    store: &rbuild::store::Store,
    name: &str,
    policy: &str,
) -> Result<rbuild::store::ImageRecord> {
    let local = match store.resolve(name) {
        Ok(r) => Some(r),
        Err(rbuild::store::StoreError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    match (policy, local) {
        ("missing" | "never", Some(rec)) => Ok(rec),
        ("never", None) => bail!("No such image: {name}"),
        ("missing" | "always", local) => {
            if local.is_none() {
                eprintln!("Unable to find image '{name}' locally");
            }
            let reference =
                Reference::parse(name).with_context(|| format!("image name {name:?}"))?;
            let opts = PullOptions::default();
            let rec = registry::pull(store, &reference, &opts)
                .with_context(|| format!("pulling {}", reference.familiar()))?;
            let same = local.is_some_and(|l| l.manifest_digest == rec.manifest_digest);
            let status = if same {
                "Image is up to date for"
            } else {
                "Downloaded newer image for"
            };
            eprintln!("Status: {status} {}", reference.familiar());
            Ok(rec)
        }
        (other, _) => bail!("invalid --pull {other:?}: use missing, always or never"),
    }
}
