//! `volume create|ls|rm|inspect|prune` and `inspect` of containers and
//! images (containers first, as docker looks them up).

use super::container::{each, print_table, Ctx, VolumeCommand};
use anyhow::Result;
use rbuild::runner::{inspect, template};
use std::path::Path;

/// Names of the containers using volume `name`.
pub fn volume_users(ctx: &Ctx, name: &str) -> Result<Vec<String>> {
    Ok(ctx
        .containers
        .list()?
        .into_iter()
        .filter(|c| {
            c.config
                .mounts
                .iter()
                .any(|m| m.kind == "volume" && m.name == name)
        })
        .map(|c| c.config.id)
        .collect())
}

pub fn volume(ctx: &Ctx, cmd: VolumeCommand) -> Result<i32> {
    match cmd {
        VolumeCommand::Create { name, label } => {
            let labels = label
                .iter()
                .map(|l| rbuild::runner::options::parse_label(l))
                .collect::<Result<_, _>>()?;
            let (m, _) = ctx.volumes.create(name.as_deref().unwrap_or(""), labels)?;
            println!("{}", m.name);
        }
        VolumeCommand::Ls { quiet } => {
            let mut rows = vec![vec!["DRIVER".to_string(), "VOLUME NAME".to_string()]];
            for v in ctx.volumes.list()? {
                if quiet {
                    println!("{}", v.name);
                } else {
                    rows.push(vec!["local".into(), v.name]);
                }
            }
            if !quiet {
                print_table(&rows)?;
            }
        }
        VolumeCommand::Rm { force, names } => {
            return each(&names, |n| {
                let users = volume_users(ctx, n)?;
                match ctx.volumes.remove(n, &users) {
                    Err(rbuild::runner::RunnerError::NoSuchVolume(_)) if force => {}
                    r => r?,
                }
                println!("{n}");
                Ok(())
            })
        }
        VolumeCommand::Inspect { format, names } => {
            let mut all = Vec::new();
            for n in &names {
                let v = ctx.volumes.inspect_json(&ctx.volumes.get(n)?);
                match &format {
                    Some(f) => println!("{}", template::render(f, &v)?),
                    None => all.push(v),
                }
            }
            if format.is_none() {
                println!("{}", serde_json::to_string_pretty(&all)?);
            }
        }
        VolumeCommand::Prune(a) => {
            println!("Deleted Volumes:");
            for v in ctx.volumes.list()? {
                if (v.anonymous || a.all) && volume_users(ctx, &v.name)?.is_empty() {
                    ctx.volumes.remove(&v.name, &[])?;
                    println!("{}", v.name);
                }
            }
            println!("\nTotal reclaimed space: 0B");
        }
    }
    Ok(0)
}

/// `inspect` for containers and images (containers first, as docker).
pub fn inspect_any(root: Option<&Path>, format: Option<&str>, names: &[String]) -> Result<i32> {
    let ctx = Ctx::open(root)?;
    let f = format.map(template::Format::parse).transpose()?;
    let mut out = Vec::new();
    let mut code = 0;
    for name in names {
        let v = match ctx.containers.get(name) {
            Ok(c) => inspect::inspect_json(&c),
            Err(rbuild::runner::RunnerError::NoSuchContainer(_)) => match ctx.store.resolve(name) {
                Ok(rec) => rbuild::image::inspect::inspect_json(&rec),
                Err(_) => {
                    eprintln!("Error: No such object: {name}");
                    code = 1;
                    continue;
                }
            },
            Err(e) => {
                eprintln!("Error: {e}");
                code = 1;
                continue;
            }
        };
        match &f {
            Some(f) => println!("{}", f.render(&v)?),
            None => out.push(v),
        }
    }
    if f.is_none() {
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(code)
}
