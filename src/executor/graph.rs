//! Scheduling the stage graph: one thread per needed stage, each waiting
//! for the stages it uses, at most `jobs` running steps at a time; the
//! first failure cancels the rest. Then the target stage's image is written
//! to the store.

use super::base::BaseImages;
use super::caching::BuildCache;
use super::stage::{self, StageOutput};
use super::{BuildRequest, BuildResult, ExecError};
use crate::parser::args::GlobalScope;
use crate::parser::instructions::{parse_dockerfile, ParsedDockerfile};
use crate::parser::stages::{stage_graph_of, BuildOptions, StageGraph};
use crate::progress::Progress;
use crate::store::Store;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::SystemTime;

/// A stage's result, once known: `Err(())` when it failed or was canceled
/// (the error itself is kept once, in [`Build::first_error`]).
type SlotValue<'s> = Option<Result<Arc<StageOutput<'s>>, ()>>;

struct Slot<'s> {
    value: Mutex<SlotValue<'s>>,
    ready: Condvar,
}

/// Shared state of one build, borrowed by every stage thread.
pub(super) struct Build<'s> {
    pub store: &'s Store,
    pub req: &'s BuildRequest,
    pub progress: &'s Progress,
    pub parsed: &'s ParsedDockerfile,
    pub graph: &'s StageGraph,
    pub global: &'s GlobalScope,
    /// The time recorded in configs and history.
    pub created: SystemTime,
    pub cache: BuildCache<'s>,
    /// Images used by FROM and --from, found or pulled once per build.
    pub bases: BaseImages,
    /// The target platform (`linux/amd64`), for cache keys.
    pub platform: String,
    slots: Vec<Slot<'s>>,
    canceled: AtomicBool,
    first_error: Mutex<Option<ExecError>>,
    jobs: Mutex<usize>,
    job_freed: Condvar,
}

impl<'s> Build<'s> {
    /// Waits for stage `index` and returns its output.
    pub fn stage_output(&self, index: usize) -> Result<Arc<StageOutput<'s>>, ExecError> {
        let slot = self
            .slots
            .get(index)
            .ok_or_else(|| ExecError::Dockerfile(format!("no stage with index {index}")))?;
        let mut v = slot.value.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            match &*v {
                Some(Ok(out)) => return Ok(out.clone()),
                Some(Err(())) => return Err(ExecError::Canceled),
                None => v = slot.ready.wait(v).unwrap_or_else(|p| p.into_inner()),
            }
        }
    }

    /// True once some stage failed; running stages stop at the next step.
    pub fn is_canceled(&self) -> bool {
        self.canceled.load(Ordering::SeqCst)
    }

    /// Holds one of the `jobs` slots while `f` runs (a stage's steps).
    pub fn with_job<T>(&self, f: impl FnOnce() -> T) -> T {
        {
            let mut free = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
            while *free == 0 {
                free = self.job_freed.wait(free).unwrap_or_else(|p| p.into_inner());
            }
            *free -= 1;
        }
        let out = f();
        *self.jobs.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.job_freed.notify_one();
        out
    }

    fn set(&self, index: usize, value: Result<Arc<StageOutput<'s>>, ()>) {
        if let Some(slot) = self.slots.get(index) {
            *slot.value.lock().unwrap_or_else(|p| p.into_inner()) = Some(value);
            slot.ready.notify_all();
        }
    }

    fn fail(&self, e: ExecError) {
        self.canceled.store(true, Ordering::SeqCst);
        let mut first = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
        if first.is_none() && !matches!(e, ExecError::Canceled) {
            *first = Some(e);
        }
    }
}

/// Parses, schedules and runs the build; commits the target image.
pub(super) fn run(
    store: &Store,
    req: &BuildRequest,
    progress: &Progress,
) -> Result<BuildResult, ExecError> {
    let name = &req.dockerfile_name;
    let ast = crate::parser::parse(&req.dockerfile)
        .map_err(|e| ExecError::Dockerfile(format!("{name}: {e}")))?;
    let parsed =
        parse_dockerfile(&ast).map_err(|e| ExecError::Dockerfile(format!("{name}: {e}")))?;
    let opts = BuildOptions {
        build_args: req.build_args.clone(),
        target: req.target.clone(),
        platform: req.platform.clone(),
    };
    let graph = stage_graph_of(&parsed, &opts)
        .map_err(|d| ExecError::Dockerfile(format!("{name}: {d}")))?;
    let host = crate::parser::args::Platform::host();
    let target_platform = req.platform.clone().unwrap_or_else(|| host.clone());
    let target_name = graph
        .stages
        .get(graph.target)
        .and_then(|s| s.name.clone())
        .unwrap_or_default();
    let global = GlobalScope::new(
        &parsed.meta_args,
        &req.build_args,
        &host,
        &target_platform,
        &target_name,
        parsed.escape,
    )
    .map_err(|e| ExecError::Dockerfile(format!("{name}: {e}")))?;
    let build = Build {
        store,
        req,
        progress,
        parsed: &parsed,
        graph: &graph,
        global: &global,
        created: crate::image::config::creation_time(req.source_date_epoch),
        cache: BuildCache::open(
            store,
            req.context.dir(),
            req.no_cache,
            &req.no_cache_filter,
            &req.cache_from,
        )?,
        platform: target_platform.to_string(),
        bases: BaseImages::default(),
        slots: graph
            .stages
            .iter()
            .map(|_| Slot {
                value: Mutex::new(None),
                ready: Condvar::new(),
            })
            .collect(),
        canceled: AtomicBool::new(false),
        first_error: Mutex::new(None),
        jobs: Mutex::new(req.jobs.max(1)),
        job_freed: Condvar::new(),
    };
    let target = graph.target;
    let result = std::thread::scope(|s| {
        let build = &build;
        for node in graph.needed() {
            let index = node.index;
            let spawned = std::thread::Builder::new()
                .name(format!("stage-{index}"))
                .spawn_scoped(s, move || match stage::run_stage(build, index) {
                    Ok(out) => build.set(index, Ok(Arc::new(out))),
                    Err(e) => {
                        build.fail(e);
                        build.set(index, Err(()));
                    }
                });
            if let Err(e) = spawned {
                build.fail(ExecError::Run(format!(
                    "starting a thread for stage {index}: {e}"
                )));
                build.set(index, Err(()));
            }
        }
        build.stage_output(target)
    });
    build.cache.finish(store);
    if let Some(e) = build
        .first_error
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
    {
        return Err(e);
    }
    let out = result?;
    if let Some((dest, mode)) = &req.cache_to {
        build.cache.export(dest, *mode, &out.layer_keys)?;
    }
    let mut state = out.state.clone();
    if !req.labels.is_empty() {
        let cfg = state.runtime();
        let mut labels = cfg.labels().clone().unwrap_or_default();
        for (k, v) in &req.labels {
            labels.insert(k.clone(), v.clone());
        }
        cfg.set_labels(Some(labels));
    }
    // The image's creation time is SOURCE_DATE_EPOCH when given, else its
    // newest history entry's, as BuildKit: a rebuild that hit the cache at
    // every step gives the same image (same ID), not a new one of this second.
    let newest_step = match req.source_date_epoch {
        Some(_) => None,
        None => state
            .config
            .history()
            .iter()
            .flatten()
            .filter_map(|h| h.created().clone())
            .next_back(),
    };
    let created = newest_step.unwrap_or_else(|| crate::image::config::rfc3339(build.created));
    state.config.set_created(Some(created));
    if let Some(p) = &req.platform {
        state.config.set_architecture(p.arch.as_str().into());
        state.config.set_os(p.os.as_str().into());
        state.config.set_variant(p.variant.clone());
    }
    let record = store.put_image_bytes(&state.config_json()?, state.layers.clone(), &req.tags)?;
    Ok(BuildResult {
        record,
        state,
        base_images: build.bases.list(),
    })
}
