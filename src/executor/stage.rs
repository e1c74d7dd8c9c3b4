//! One stage: resolve its base (scratch, an earlier stage, an image in the
//! store or pulled from its registry by [`super::base`]), run the base image's ONBUILD triggers, then each instruction in
//! order with the stage's ARG/ENV scope. Metadata instructions change the
//! config ([`super::metadata`]); WORKDIR, COPY/ADD and RUN make layers.

use super::caching::apply_hit;
use super::fetch::{fetch, is_url, Fetched};
use super::graph::Build;
use super::metadata;
use super::sources::find_sources;
use super::state::ImageState;
use super::ExecError;
use crate::cache::{CacheKey, KeyBuilder};
use crate::parser::args::Scope;
use crate::parser::instructions::{parse_instruction, Command, Instruction, MountType};
use crate::progress;

/// What a finished stage hands to the stages that use it.
pub(super) struct StageOutput<'s> {
    pub state: ImageState,
    pub scope: Scope<'s>,
    /// The cache key after the stage's last step.
    pub key: CacheKey,
    /// Keys of the steps that made this stage's image (its base stage's
    /// included; metadata steps too, they have records): what `--cache-to`
    /// exports.
    pub layer_keys: Vec<CacheKey>,
}

/// Runs stage `index` once the stages it uses are done.
pub(super) fn run_stage<'s>(b: &Build<'s>, index: usize) -> Result<StageOutput<'s>, ExecError> {
    let node = b
        .graph
        .stages
        .get(index)
        .ok_or_else(|| ExecError::Dockerfile(format!("no stage {index}")))?;
    // Wait before taking a job slot, so a waiting stage never blocks others.
    for &dep in &node.depends_on {
        b.stage_output(dep)?;
    }
    b.with_job(|| StageRunner::start(b, index)?.run())
}

/// The walk through one stage.
pub(super) struct StageRunner<'b, 's> {
    pub b: &'b Build<'s>,
    pub index: usize,
    pub state: ImageState,
    pub scope: Scope<'s>,
    /// The cache key of the last step.
    pub key: CacheKey,
    /// The stage's name for `--no-cache-filter`.
    stage_name: String,
    /// See [`StageOutput::layer_keys`].
    layer_keys: Vec<CacheKey>,
    /// ADD URL downloads of the current step, by URL (made for its cache key).
    pub fetched: std::collections::HashMap<String, super::fetch::Fetched>,
    /// Where those downloads are kept.
    downloads: Option<tempfile::TempDir>,
    /// `[name ` prefix of progress lines (empty for a one-stage file).
    label: String,
    /// RUN layers still being written, oldest first ([`super::commit`]).
    pub(super) pending: std::collections::VecDeque<super::pending::PendingCommit>,
    /// Background commits started so far (tells a step whether it deferred one).
    pub(super) commits_started: usize,
    step_no: usize,
    steps: usize,
}

impl<'b, 's> StageRunner<'b, 's> {
    fn start(b: &'b Build<'s>, index: usize) -> Result<StageRunner<'b, 's>, ExecError> {
        let (Some(node), Some(stage)) = (b.graph.stages.get(index), b.parsed.stages.get(index))
        else {
            return Err(ExecError::Dockerfile(format!("no stage {index}")));
        };
        let label = if b.parsed.stages.len() > 1 {
            format!("{} ", node.display_name())
        } else {
            String::new()
        };
        let steps = stage.commands.len() + 1;
        let file = &b.req.dockerfile_name;
        let at = |e: ExecError| ExecError::Step {
            file: file.clone(),
            line: stage.span.start_line,
            instruction: stage.original.trim().to_string(),
            source: Box::new(e),
        };
        let mut layer_keys = Vec::new();
        let (state, scope, key) = if let Some(parent) = node.base_stage {
            let out = b.stage_output(parent)?;
            layer_keys.clone_from(&out.layer_keys);
            (
                out.state.clone(),
                Scope::inherit(&out.scope),
                out.key.clone(),
            )
        } else if node.base.eq_ignore_ascii_case("scratch") {
            (
                ImageState::scratch(b.created),
                Scope::new(b.global, &b.req.build_args, Vec::new()),
                KeyBuilder::scratch(&b.platform),
            )
        } else {
            let mut step = b
                .progress
                .step(format!("[{label}1/{steps}] FROM {}", node.base));
            let platform = node
                .platform
                .clone()
                .or_else(|| b.req.platform.as_ref().map(|p| p.to_string()));
            let rec = match b.bases.resolve(
                b.store,
                &b.req.bases,
                &node.base,
                platform.as_deref(),
                &mut |l| step.log(l),
            ) {
                Ok(r) => r,
                Err(e) => {
                    step.error(&e.to_string());
                    return Err(at(e));
                }
            };
            let state = ImageState::from_record(b.store, &rec).map_err(at)?;
            let env = state.env_pairs();
            step.done();
            let key = KeyBuilder::base_image(&rec.manifest_digest, &b.platform);
            (state, Scope::new(b.global, &b.req.build_args, env), key)
        };
        Ok(StageRunner {
            b,
            index,
            state,
            scope,
            key,
            stage_name: node.display_name().to_ascii_lowercase(),
            layer_keys,
            fetched: std::collections::HashMap::new(),
            downloads: None,
            label,
            pending: std::collections::VecDeque::new(),
            commits_started: 0,
            step_no: 1,
            steps,
        })
    }

    fn run(mut self) -> Result<StageOutput<'s>, ExecError> {
        let stage = self
            .b
            .parsed
            .stages
            .get(self.index)
            .ok_or_else(|| ExecError::Dockerfile(format!("no stage {}", self.index)))?;
        // The base image's triggers run first, and are not inherited further.
        let triggers = std::mem::take(&mut self.state.extras.on_build);
        let mut commands: Vec<Command> = Vec::new();
        for t in &triggers {
            let ast = crate::parser::parse(t.as_bytes()).map_err(|e| {
                ExecError::Dockerfile(format!("ONBUILD trigger {t:?} of the base image: {e}"))
            })?;
            for node in &ast.nodes {
                let mut c = parse_instruction(node)
                    .map_err(|e| ExecError::Dockerfile(format!("ONBUILD trigger {t:?}: {e}")))?;
                c.span = stage.span;
                commands.push(c);
            }
        }
        let trigger_count = commands.len();
        commands.extend(stage.commands.iter().cloned());
        for (i, command) in commands.iter().enumerate() {
            if self.b.is_canceled() {
                return Err(ExecError::Canceled);
            }
            if i >= trigger_count {
                self.step_no += 1;
            }
            let result = self.command(command);
            if result.is_err() {
                // The step before a failed RUN still gets its layer and cache
                // record, so the fixed rebuild starts from there.
                if let Err(e) = self.settle() {
                    log::warn!("{e}");
                }
            }
            result.map_err(|e| match e {
                ExecError::Canceled => e,
                e => ExecError::Step {
                    file: self.b.req.dockerfile_name.clone(),
                    line: command.span.start_line,
                    instruction: command.original.trim().to_string(),
                    source: Box::new(e),
                },
            })?;
        }
        self.settle()?;
        Ok(StageOutput {
            state: self.state,
            scope: self.scope,
            key: self.key,
            layer_keys: self.layer_keys,
        })
    }

    /// The progress name of the current step (`[build 2/4] RUN make`).
    pub fn step_name(&self, command: &Command) -> String {
        let text: String = command
            .original
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        format!("[{}{}/{}] {}", self.label, self.step_no, self.steps, text)
    }

    fn command(&mut self, raw: &Command) -> Result<(), ExecError> {
        let step = self
            .scope
            .step(raw)
            .map_err(|e| ExecError::Dockerfile(e.to_string()))?;
        let command = step.command;
        // Only a RUN may run on top of a layer still being committed.
        if !matches!(command.instruction, Instruction::Run(_)) {
            self.settle()?;
        }
        self.fetched.clear();
        self.downloads = None;
        let key = self.step_key(&command)?;
        let layer_step = matches!(
            command.instruction,
            Instruction::Workdir(_)
                | Instruction::Copy(_)
                | Instruction::Add(_)
                | Instruction::Run(_)
        );
        let layers_before = self.state.layers.len();
        let commits_before = self.commits_started;
        if let Instruction::Workdir(dir) = &command.instruction {
            metadata::set_workdir(&mut self.state, dir);
        }
        // ARG changes nothing in the image: no record.
        let cacheable = !matches!(command.instruction, Instruction::Arg(_));
        if cacheable {
            if let Some(hit) = self.b.cache.lookup(&self.stage_name, &key) {
                // Metadata steps have no progress line, hit or not (as BuildKit).
                let step = layer_step.then(|| self.b.progress.step(self.step_name(&command)));
                self.settle()?;
                apply_hit(&mut self.state, hit)?;
                if let Some(step) = step {
                    step.cached();
                }
                self.layer_keys.push(key.clone());
                self.key = key;
                return Ok(());
            }
        }
        match &command.instruction {
            Instruction::Arg(_) => {}
            Instruction::From(_) => {
                return Err(ExecError::Dockerfile("FROM inside a stage".into()))
            }
            Instruction::Workdir(_) => self.workdir(&command)?,
            Instruction::Copy(copy) => super::copy::copy_step(self, &command, copy, None)?,
            Instruction::Add(add) => super::copy::copy_step(self, &command, &add.copy, Some(add))?,
            Instruction::Run(run) => super::run::run_step(self, &command, run)?,
            other => {
                let text = metadata::apply(&mut self.state, other)
                    .unwrap_or_else(|| other.name().to_string());
                self.state.add_empty(self.b.created, &text)?;
            }
        }
        if cacheable {
            let name = self.step_name(&command);
            match self.pending.back_mut() {
                // Recorded when its layer is known.
                Some(p) if self.commits_started > commits_before => {
                    p.record = Some((key.clone(), name));
                }
                _ => {
                    let new_layer = layer_step && self.state.layers.len() > layers_before;
                    self.b.cache.put(&key, &self.state, new_layer, &name);
                }
            }
        }
        self.layer_keys.push(key.clone());
        self.key = key;
        Ok(())
    }

    /// The cache key of `command` (expanded), chained on the previous step's.
    fn step_key(&mut self, command: &Command) -> Result<CacheKey, ExecError> {
        let runtime = self.state.runtime_ref();
        let mut kb = KeyBuilder::child(&self.key)
            .instruction(&command.instruction)
            .env(
                self.scope
                    .env()
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            )
            .option("user", runtime.user().as_deref().unwrap_or_default())
            .option("workdir", &self.state.workdir())
            .option("shell", &self.state.shell().join("\0"))
            .option("platform", &self.b.platform);
        // Layers are committed with times clamped to the epoch and history
        // stamped with it: results made under another epoch are not ours.
        if let Some(epoch) = self.b.req.source_date_epoch {
            kb = kb.option("source-date-epoch", &epoch.to_string());
        }
        let copy = match &command.instruction {
            Instruction::Copy(c) => Some(c),
            Instruction::Add(a) => Some(&a.copy),
            _ => None,
        };
        if let Some(copy) = copy {
            kb = match copy.from.as_deref().filter(|f| !f.is_empty()) {
                Some(from) => kb.dependency("from", &self.source_key(from)?),
                None => {
                    let ctx = &self.b.req.context;
                    let checksum = match &command.instruction {
                        Instruction::Add(a) => a.checksum.as_deref(),
                        _ => None,
                    };
                    for url in copy.sources.iter().filter(|s| is_url(s)) {
                        let got = self.fetch_once(url, checksum)?;
                        kb = kb.url_content(url, &got.digest);
                    }
                    let local: Vec<String> = copy
                        .sources
                        .iter()
                        .filter(|s| !is_url(s))
                        .cloned()
                        .collect();
                    let chmod = copy
                        .chmod
                        .as_deref()
                        .and_then(|m| u32::from_str_radix(m, 8).ok());
                    let hash = self.b.cache.context_hash(
                        ctx.dir(),
                        &local,
                        &copy.exclude,
                        Some(&ctx.ignore),
                        chmod,
                    );
                    match hash {
                        Ok(h) => kb.sources(&h),
                        Err(e) => {
                            // Prefer the COPY's own message for a bad source.
                            for s in &local {
                                find_sources(ctx.dir(), s, Some(&ctx.ignore), "build context")?;
                            }
                            return Err(e);
                        }
                    }
                }
            };
        }
        if let Instruction::Run(run) = &command.instruction {
            for m in &run.mounts {
                kb = match (m.kind, m.from.as_deref().filter(|f| !f.is_empty())) {
                    (MountType::Bind, Some(from)) => kb
                        .mount(m, None)
                        .dependency("mount-from", &self.source_key(from)?),
                    (MountType::Bind, None) => {
                        let ctx = &self.b.req.context;
                        let src = vec![m.source.clone().unwrap_or_else(|| "/".into())];
                        let h = self.b.cache.context_hash(
                            ctx.dir(),
                            &src,
                            &[],
                            Some(&ctx.ignore),
                            None,
                        )?;
                        kb.mount(m, Some(&h))
                    }
                    _ => kb.mount(m, None),
                };
            }
            kb = kb.option("network", &self.b.req.network);
        }
        Ok(kb.build())
    }

    /// Downloads an ADD URL once per step (the key needs its digest, the copy its bytes).
    fn fetch_once(&mut self, url: &str, checksum: Option<&str>) -> Result<Fetched, ExecError> {
        if let Some(f) = self.fetched.get(url) {
            return Ok(f.clone());
        }
        if self.downloads.is_none() {
            let tmp = self.b.store.tmp_dir();
            self.downloads = Some(tempfile::tempdir_in(tmp).map_err(|e| ExecError::io(tmp, e))?);
        }
        let dir = self
            .downloads
            .as_ref()
            .map(|d| d.path().to_path_buf())
            .unwrap_or_default();
        let got = fetch(url, &dir, checksum)?;
        self.fetched.insert(url.to_string(), got.clone());
        Ok(got)
    }

    /// The key standing for a `--from` source: a stage's last key, or an image's.
    fn source_key(&self, from: &str) -> Result<CacheKey, ExecError> {
        if let Some(i) = super::copy::stage_index(self, from) {
            return Ok(self.b.stage_output(i)?.key.clone());
        }
        let rec = super::copy::resolve_image(self, from)?;
        Ok(KeyBuilder::base_image(
            &rec.manifest_digest,
            &self.b.platform,
        ))
    }

    /// WORKDIR: creates the directory (as a layer) when the image lacks it,
    /// as BuildKit does; the config was set already.
    fn workdir(&mut self, command: &Command) -> Result<(), ExecError> {
        let full = self.state.workdir();
        let created_by = format!("WORKDIR {full}");
        let mut step = self.b.progress.step(self.step_name(command));
        let user = self.state.runtime_ref().user().clone().unwrap_or_default();
        let result = self.in_overlay(&mut step, &created_by, |root| {
            let owner = if user.is_empty() {
                None
            } else {
                Some(super::owner::resolve_owner(root, &user)?)
            };
            let target = super::sources::resolve_in_root(root, &full, true)?;
            super::fsops::make_dirs(root, &target, owner)
        });
        finish_step(step, result)
    }
}

/// Reports a step's end to progress and passes its result on.
pub(super) fn finish_step(
    step: progress::Step,
    result: Result<(), ExecError>,
) -> Result<(), ExecError> {
    match &result {
        Ok(()) => step.done(),
        Err(e) => step.error(&e.to_string()),
    }
    result
}
