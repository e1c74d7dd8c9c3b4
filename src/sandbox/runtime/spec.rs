//! Builds the OCI runtime config (config.json) for a [`BundleSpec`] with the
//! `oci-spec` crate, matching what docker gives an unprivileged container:
//! its default mounts, namespaces, 14 capabilities, masked and read-only
//! paths, a deny-all device cgroup (runtimes re-allow their default device
//! nodes), no raised rlimits, and cgroup resources from the limits.

use super::{BundleSpec, RuntimeError};
use crate::sandbox::network::NetworkMode;
use oci_spec::runtime::{
    Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxCpuBuilder, LinuxDeviceCgroupBuilder,
    LinuxMemoryBuilder, LinuxNamespace, LinuxNamespaceBuilder, LinuxNamespaceType,
    LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder, Mount, MountBuilder, ProcessBuilder,
    RootBuilder, Spec, SpecBuilder, UserBuilder,
};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// docker's default capability set for containers.
const DOCKER_CAPABILITIES: [Capability; 14] = [
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fsetid,
    Capability::Fowner,
    Capability::Mknod,
    Capability::NetRaw,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setfcap,
    Capability::Setpcap,
    Capability::NetBindService,
    Capability::SysChroot,
    Capability::Kill,
    Capability::AuditWrite,
];

/// docker's masked paths (hidden behind /dev/null or an empty tmpfs).
const MASKED_PATHS: [&str; 11] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

fn oci(e: oci_spec::OciSpecError) -> RuntimeError {
    RuntimeError::Spec(e.to_string())
}

fn mount(dest: &str, typ: &str, source: &str, options: &[&str]) -> Result<Mount, RuntimeError> {
    MountBuilder::default()
        .destination(dest)
        .typ(typ)
        .source(source)
        .options(options.iter().map(|o| o.to_string()).collect::<Vec<_>>())
        .build()
        .map_err(oci)
}

/// docker's mounts for a non-privileged container, plus read-only binds of
/// the generated /etc files from the bundle directory.
fn mounts(etc_files: &[(&str, PathBuf)]) -> Result<Vec<Mount>, RuntimeError> {
    let mut mounts = vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"])?,
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        )?,
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        )?,
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        )?,
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", "ro"],
        )?,
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        )?,
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"],
        )?,
    ];
    for (dest, source) in etc_files {
        let source = source.to_string_lossy();
        mounts.push(mount(dest, "bind", &source, &["rbind", "rprivate", "ro"])?);
    }
    Ok(mounts)
}

fn namespaces(
    spec: &BundleSpec,
    netns: Option<&Path>,
) -> Result<Vec<LinuxNamespace>, RuntimeError> {
    let mut out = Vec::new();
    for typ in [
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Mount,
    ] {
        out.push(
            LinuxNamespaceBuilder::default()
                .typ(typ)
                .build()
                .map_err(oci)?,
        );
    }
    if spec.network != NetworkMode::Host {
        let mut net = LinuxNamespaceBuilder::default().typ(LinuxNamespaceType::Network);
        if let Some(path) = netns {
            net = net.path(path);
        }
        out.push(net.build().map_err(oci)?);
    }
    // docker: a private cgroup namespace on v2 only (v1 hosts share it).
    if spec.cgroup_namespace {
        out.push(
            LinuxNamespaceBuilder::default()
                .typ(LinuxNamespaceType::Cgroup)
                .build()
                .map_err(oci)?,
        );
    }
    Ok(out)
}

/// The cgroup resources for the limits (same meaning as the in-process
/// sandbox: memory and memory+swap in bytes, CFS quota for --cpus).
pub fn resources(spec: &BundleSpec) -> Result<LinuxResources, RuntimeError> {
    let deny_all = LinuxDeviceCgroupBuilder::default()
        .allow(false)
        .access("rwm")
        .build()
        .map_err(oci)?;
    let mut resources = LinuxResourcesBuilder::default().devices(vec![deny_all]);
    let limits = &spec.limits;
    if let Some(memory) = limits.memory {
        let limit = i64::try_from(memory)
            .map_err(|_| RuntimeError::Spec(format!("memory limit {memory} is too large")))?;
        let mut builder = LinuxMemoryBuilder::default().limit(limit);
        if let Some(swap) = limits.memory_swap {
            builder = builder.swap(swap);
        }
        resources = resources.memory(builder.build().map_err(oci)?);
    }
    if let Some(cpus) = limits.cpus {
        if !cpus.is_finite() || cpus <= 0.0 {
            return Err(RuntimeError::Spec(format!(
                "--cpus {cpus} must be positive"
            )));
        }
        let period = 100_000u64;
        let quota = ((cpus * period as f64).round() as i64).max(1000);
        let cpu = LinuxCpuBuilder::default()
            .quota(quota)
            .period(period)
            .build()
            .map_err(oci)?;
        resources = resources.cpu(cpu);
    }
    if let Some(pids) = limits.pids {
        let pids = LinuxPidsBuilder::default()
            .limit(if pids > 0 { pids } else { -1 })
            .build()
            .map_err(oci)?;
        resources = resources.pids(pids);
    }
    resources.build().map_err(oci)
}

/// The whole config.json. `netns` joins an existing network namespace
/// (private networking); `etc_files` are (destination, source) binds.
pub fn build(
    spec: &BundleSpec,
    netns: Option<&Path>,
    etc_files: &[(&str, PathBuf)],
) -> Result<Spec, RuntimeError> {
    if spec.args.is_empty() {
        return Err(RuntimeError::Spec("no command to run (empty args)".into()));
    }
    if !spec.cwd.starts_with('/') {
        return Err(RuntimeError::Spec(format!(
            "working directory {:?} must be absolute",
            spec.cwd
        )));
    }
    let caps: HashSet<Capability> = DOCKER_CAPABILITIES.into_iter().collect();
    // Non-root users keep no effective capabilities (docker drops them on
    // exec unless ambient); bounding stays docker's set.
    let running_caps = if spec.uid == 0 {
        caps.clone()
    } else {
        HashSet::new()
    };
    let capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(caps.clone())
        .permitted(running_caps.clone())
        .effective(running_caps)
        .inheritable(HashSet::new())
        .ambient(HashSet::new())
        .build()
        .map_err(oci)?;
    let user = UserBuilder::default()
        .uid(spec.uid)
        .gid(spec.gid)
        .additional_gids(spec.additional_gids.clone())
        .build()
        .map_err(oci)?;
    let process = ProcessBuilder::default()
        .terminal(false)
        .user(user)
        .args(spec.args.clone())
        .env(spec.env.clone())
        .cwd(&spec.cwd)
        .capabilities(capabilities)
        .no_new_privileges(spec.no_new_privileges)
        // Inherit the runtime's rlimits: never raise them (the sandbox may
        // lack CAP_SYS_RESOURCE) and don't impose oci-spec's nofile=1024.
        .rlimits(Vec::new())
        .build()
        .map_err(oci)?;
    let rootfs = std::fs::canonicalize(&spec.rootfs).map_err(|source| RuntimeError::Io {
        op: "resolve rootfs",
        path: spec.rootfs.clone(),
        source,
    })?;
    let root = RootBuilder::default()
        .path(rootfs)
        .readonly(spec.readonly_rootfs)
        .build()
        .map_err(oci)?;
    let linux = LinuxBuilder::default()
        .namespaces(namespaces(spec, netns)?)
        .resources(resources(spec)?)
        .masked_paths(MASKED_PATHS.map(String::from).to_vec())
        .readonly_paths(READONLY_PATHS.map(String::from).to_vec())
        .build()
        .map_err(oci)?;
    let mut builder = SpecBuilder::default()
        .version("1.0.2")
        .process(process)
        .root(root)
        .mounts(mounts(etc_files)?)
        .linux(linux);
    if let Some(hostname) = &spec.hostname {
        builder = builder.hostname(hostname.clone());
    }
    builder.build().map_err(oci)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::cgroups::Limits;
    use serde_json::Value;

    fn json(spec: &BundleSpec, netns: Option<&Path>) -> Value {
        let config = build(
            spec,
            netns,
            &[("/etc/hostname", PathBuf::from("/b/hostname"))],
        )
        .expect("build config");
        serde_json::to_value(config).expect("serialize")
    }

    fn namespace_types(config: &Value) -> Vec<String> {
        config["linux"]["namespaces"]
            .as_array()
            .expect("namespaces")
            .iter()
            .map(|ns| ns["type"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    #[test]
    fn docker_like_defaults() {
        let rootfs = tempfile::tempdir().expect("tempdir");
        let mut spec = BundleSpec::new(rootfs.path(), vec!["/bin/sh".into()]);
        spec.network = NetworkMode::None;
        spec.hostname = Some("h".into());
        let config = json(&spec, None);
        assert_eq!(config["hostname"], "h");
        assert_eq!(config["process"]["rlimits"], serde_json::json!([]));
        assert_eq!(config["process"]["terminal"], false);
        let bounding = config["process"]["capabilities"]["bounding"]
            .as_array()
            .expect("caps");
        assert_eq!(bounding.len(), 14);
        assert!(bounding.contains(&Value::from("CAP_NET_RAW")));
        assert!(!bounding.contains(&Value::from("CAP_SYS_ADMIN")));
        assert_eq!(
            namespace_types(&config),
            ["pid", "ipc", "uts", "mount", "network"]
        );
        let masked = config["linux"]["maskedPaths"].as_array().expect("masked");
        assert!(masked.contains(&Value::from("/proc/kcore")));
        let destinations: Vec<&str> = config["mounts"]
            .as_array()
            .expect("mounts")
            .iter()
            .filter_map(|m| m["destination"].as_str())
            .collect();
        for wanted in [
            "/proc",
            "/dev",
            "/dev/pts",
            "/dev/shm",
            "/dev/mqueue",
            "/sys",
            "/sys/fs/cgroup",
            "/etc/hostname",
        ] {
            assert!(
                destinations.contains(&wanted),
                "{wanted} missing: {destinations:?}"
            );
        }
        let canonical = std::fs::canonicalize(rootfs.path()).expect("canonicalize");
        assert_eq!(config["root"]["path"], canonical.to_string_lossy().as_ref());
        assert_eq!(config["linux"]["resources"]["devices"][0]["allow"], false);
    }

    #[test]
    fn network_modes_and_limits() {
        let rootfs = tempfile::tempdir().expect("tempdir");
        let mut spec = BundleSpec::new(rootfs.path(), vec!["true".into()]);
        spec.network = NetworkMode::Host;
        spec.uid = 1000;
        spec.limits = Limits {
            memory: Some(1 << 20),
            memory_swap: Some(-1),
            cpus: Some(0.5),
            pids: Some(0),
        };
        let config = json(&spec, None);
        assert!(!namespace_types(&config).contains(&"network".to_string()));
        assert_eq!(
            config["process"]["capabilities"]["effective"],
            serde_json::json!([])
        );
        let resources = &config["linux"]["resources"];
        assert_eq!(resources["memory"]["limit"], 1 << 20);
        assert_eq!(resources["memory"]["swap"], -1);
        assert_eq!(resources["cpu"]["quota"], 50_000);
        assert_eq!(resources["cpu"]["period"], 100_000);
        assert_eq!(resources["pids"]["limit"], -1);

        spec.network = NetworkMode::Private;
        let config = json(&spec, Some(Path::new("/proc/42/ns/net")));
        let net = config["linux"]["namespaces"]
            .as_array()
            .expect("namespaces")
            .iter()
            .find(|ns| ns["type"] == "network")
            .cloned()
            .expect("network namespace");
        assert_eq!(net["path"], "/proc/42/ns/net");
    }

    #[test]
    fn bad_specs_are_errors() {
        let rootfs = tempfile::tempdir().expect("tempdir");
        let empty = BundleSpec::new(rootfs.path(), Vec::new());
        assert!(matches!(
            build(&empty, None, &[]),
            Err(RuntimeError::Spec(_))
        ));
        let mut relative = BundleSpec::new(rootfs.path(), vec!["sh".into()]);
        relative.cwd = "work".into();
        let err = build(&relative, None, &[]).expect_err("relative cwd");
        assert!(err.to_string().contains("absolute"), "{err}");
        let missing = BundleSpec::new("/nonexistent/rootfs", vec!["sh".into()]);
        let err = build(&missing, None, &[]).expect_err("missing rootfs");
        assert!(err.to_string().contains("/nonexistent/rootfs"), "{err}");
    }
}
