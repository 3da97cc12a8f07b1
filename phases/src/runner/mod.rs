//! The phase runner: one static table per workflow drives the run order, `--skip-phases`,
//! the `phase` subcommands and the phase list in `--help`.

pub mod context;
pub mod outputs;
pub mod report;
pub mod resume;
pub mod versions;
pub mod wait;

use anyhow::{Context as _, Result, bail};

use crate::fs::fault;
use crate::pki::{self, KeyAlgorithm};
use crate::runner::context::Context;

/// What a phase does when it runs.
pub type PhaseFn = fn(&mut Context) -> Result<()>;

/// The fresh key a phase (given by name) will generate when it runs now, if any.
pub type NewKeyFn = fn(&Context, &str) -> Option<KeyAlgorithm>;

/// A node of a workflow's phase tree: a leaf with a function or a group of children.
#[derive(Debug, Clone, Copy)]
pub struct Phase {
    pub name: &'static str,
    pub about: &'static str,
    pub run: Option<PhaseFn>,
    pub children: &'static [Phase],
    /// Files (logical paths) that must exist when this phase runs alone, each with the phase that writes it.
    pub requires: &'static [(&'static str, &'static str)],
    pub new_key: Option<NewKeyFn>,
    /// The phase (with its sub-phases) does nothing but write files under the root, so a resumed
    /// run may reuse them instead of running it again (see [`resume`]).
    pub files_only: bool,
}

impl Phase {
    /// A phase that does work.
    pub const fn leaf(name: &'static str, about: &'static str, run: PhaseFn) -> Self {
        Phase {
            name,
            about,
            run: Some(run),
            children: &[],
            requires: &[],
            new_key: None,
            files_only: false,
        }
    }

    /// A phase made of sub-phases; running it runs them all.
    pub const fn group(
        name: &'static str,
        about: &'static str,
        children: &'static [Phase],
    ) -> Self {
        Phase {
            name,
            about,
            run: None,
            children,
            requires: &[],
            new_key: None,
            files_only: false,
        }
    }

    /// Marks a phase whose whole effect is files under the root.
    pub const fn files_only(mut self) -> Self {
        self.files_only = true;
        self
    }

    /// Declares the files this phase reads, with the phase that produces each.
    pub const fn requires(mut self, files: &'static [(&'static str, &'static str)]) -> Self {
        self.requires = files;
        self
    }

    /// Declares how to tell whether this phase will generate a key.
    pub const fn new_key(mut self, new_key: NewKeyFn) -> Self {
        self.new_key = Some(new_key);
        self
    }
}

/// One phase selected to run, with its `/`-joined path.
#[derive(Debug, Clone)]
pub struct Step {
    pub path: String,
    pub phase: &'static Phase,
    /// It or a group it belongs to is [`Phase::files_only`].
    pub files_only: bool,
    /// The paths (its own and its groups') that this step is the last planned step of.
    pub closes: Vec<String>,
}

/// Every phase path of a table, pre-order (`certs`, `certs/ca`, …).
pub fn paths(table: &'static [Phase]) -> Vec<String> {
    flatten(table).into_iter().map(|s| s.path).collect()
}

fn flatten(table: &'static [Phase]) -> Vec<Step> {
    fn walk(prefix: &str, files_only: bool, phases: &'static [Phase], out: &mut Vec<Step>) {
        for phase in phases {
            let path = if prefix.is_empty() {
                phase.name.to_string()
            } else {
                format!("{prefix}/{}", phase.name)
            };
            let files_only = files_only || phase.files_only;
            out.push(Step {
                path: path.clone(),
                phase,
                files_only,
                closes: Vec::new(),
            });
            walk(&path, files_only, phase.children, out);
        }
    }
    let mut out = Vec::new();
    walk("", false, table, &mut out);
    out
}

/// Fills in [`Step::closes`] for a plan.
fn mark_closes(steps: &mut [Step]) {
    for i in 0..steps.len() {
        let next = steps.get(i + 1).map(|s| s.path.clone());
        let path = steps[i].path.clone();
        let mut prefix = String::new();
        for part in path.split('/') {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            if !next.as_deref().is_some_and(|n| within(n, &prefix)) {
                steps[i].closes.push(prefix.clone());
            }
        }
    }
}

fn within(path: &str, subtree: &str) -> bool {
    path == subtree
        || path
            .strip_prefix(subtree)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Selects the leaf phases to run: the subtree `only` (or everything), minus each `skip` subtree,
/// always in table order. Unknown names are an error listing the valid ones.
pub fn plan(table: &'static [Phase], only: Option<&str>, skip: &[String]) -> Result<Vec<Step>> {
    let all = flatten(table);
    let known = |name: &str| all.iter().any(|s| s.path == name);
    let unknown: Vec<&str> = only
        .into_iter()
        .chain(skip.iter().map(String::as_str))
        .filter(|name| !known(name))
        .collect();
    if !unknown.is_empty() {
        // A bad phase name is bad input (exit 3), as `config validate` says of `skipPhases`.
        return Err(crate::config::InvalidConfig(vec![format!(
            "unknown phase {}; valid phases are: {}",
            unknown
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", "),
            paths(table).join(", ")
        )])
        .into());
    }
    let mut steps: Vec<Step> = all
        .into_iter()
        .filter(|s| s.phase.run.is_some())
        .filter(|s| only.is_none_or(|o| within(&s.path, o)))
        .filter(|s| !skip.iter().any(|k| within(&s.path, k)))
        .collect();
    mark_closes(&mut steps);
    Ok(steps)
}

/// The paths of the planned files-only steps, in order (see [`resume::Record::open`]).
pub fn files_only(steps: &[Step]) -> Vec<&str> {
    steps
        .iter()
        .filter(|s| s.files_only)
        .map(|s| s.path.as_str())
        .collect()
}

/// The fresh keys the planned steps will generate, per algorithm.
pub fn keys_wanted(steps: &[Step], ctx: &Context) -> Vec<(KeyAlgorithm, usize)> {
    let mut wanted: Vec<(KeyAlgorithm, usize)> = Vec::new();
    for step in steps {
        let Some(alg) = step.phase.new_key.and_then(|f| f(ctx, step.phase.name)) else {
            continue;
        };
        match wanted.iter_mut().find(|(a, _)| *a == alg) {
            Some((_, n)) => *n += 1,
            None => wanted.push((alg, 1)),
        }
    }
    wanted
}

/// Starts generating, in the background, every key the planned steps will need, so the CPU-bound
/// key generation runs on every core and alongside the steps before them (preflight) instead of
/// one key at a time. Call once per plan, before [`run`].
pub fn prefetch_keys(steps: &[Step], ctx: &Context) {
    for (alg, count) in keys_wanted(steps, ctx) {
        pki::prefetch_keys(alg, count);
    }
}

/// Runs the planned steps in order. When `alone` (a single `phase` subcommand), each step's required
/// files are checked first so a missing input names the phase that produces it. With a
/// [`resume::Record`] in the context, each step is recorded when it finished, and a step an
/// earlier run finished whose files are unchanged is not run again.
pub fn run(steps: &[Step], ctx: &mut Context, alone: bool) -> Result<()> {
    let crash_after = fault::after_phase();
    let fail_after = fault::fail_after_phase();
    let pause_after = fault::pause_after_phase();
    for step in steps {
        ctx.interrupt
            .check()
            .with_context(|| format!("stopped before phase `{}`", step.path))?;
        ctx.out.phase(&step.path);
        if ctx.record.as_ref().is_some_and(|p| p.reuses(&step.path)) {
            ctx.out.status(
                "resume",
                &format!("`{}`: reusing the files of the earlier run", step.path),
            );
            continue;
        }
        if alone {
            for (file, producer) in step.phase.requires {
                let file = ctx.resolve_required(file);
                if !ctx.root.exists(&file) {
                    bail!(
                        "phase `{}` needs `{file}`, which does not exist\n\nhint: run `kubestrap init phase {producer}` first, or pass --root to the folder that holds it",
                        step.path,
                        producer = producer.replace('/', " "),
                    );
                }
            }
        }
        let written_before = ctx.root.changes().len();
        if step.files_only && ctx.record.is_some() {
            ctx.root.log_writes(Some((resume::WRITE_LOG, &step.path)));
        }
        let result = match step.phase.run {
            Some(run) => run(ctx).with_context(|| format!("phase `{}` failed", step.path)),
            None => Ok(()),
        };
        ctx.root.log_writes(None);
        result?;
        if let Some(record) = ctx.record.as_mut() {
            let written = ctx.root.changes().split_off(written_before);
            record.finish(&ctx.root, &step.path, &written)?;
        }
        if crash_after
            .as_ref()
            .is_some_and(|target| step.closes.contains(target))
        {
            fault::die();
        }
        if let Some(target) = fail_after
            .as_ref()
            .filter(|target| step.closes.contains(target))
        {
            bail!(
                "{}=fail:{target}: failing on purpose after `{target}`",
                fault::VAR
            );
        }
        if let Some(target) = pause_after
            .as_ref()
            .filter(|target| step.closes.contains(target))
        {
            ctx.out.status(
                "fault",
                &format!(
                    "{}=pause:{target}: waiting for SIGINT or SIGTERM",
                    fault::VAR
                ),
            );
            ctx.interrupt
                .pause(fault::PAUSE_LIMIT)
                .with_context(|| format!("stopped after phase `{target}`, which finished"))?;
            bail!(
                "{}=pause:{target}: no signal came within {:?}",
                fault::VAR,
                fault::PAUSE_LIMIT
            );
        }
    }
    Ok(())
}

/// The indented phase list shown in `--help` of a workflow (`init`, `reset`).
pub fn help(workflow: &str, table: &'static [Phase]) -> String {
    fn walk(depth: usize, phases: &'static [Phase], out: &mut String) {
        for phase in phases {
            let name = if depth == 0 {
                phase.name.to_string()
            } else {
                format!("{}/{}", "  ".repeat(depth - 1), phase.name)
            };
            out.push_str(&format!("  {name:<30}{}\n", phase.about));
            walk(depth + 1, phase.children, out);
        }
    }
    let mut out = format!("The {workflow:?} command executes the following phases:\n");
    walk(0, table, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nop(_: &mut Context) -> Result<()> {
        Ok(())
    }

    static TABLE: &[Phase] = &[
        Phase::leaf("preflight", "Run pre-flight checks", nop),
        Phase::group(
            "certs",
            "Certificate generation",
            &[
                Phase::leaf("ca", "CA", nop),
                Phase::leaf("apiserver", "apiserver", nop),
            ],
        ),
        Phase::group(
            "kubeconfig",
            "Kubeconfigs",
            &[Phase::leaf("admin", "admin", nop)],
        ),
    ];

    fn names(steps: &[Step]) -> Vec<&str> {
        steps.iter().map(|s| s.path.as_str()).collect()
    }

    #[test]
    fn plan_runs_every_leaf_in_order() {
        let steps = plan(TABLE, None, &[]).unwrap();
        assert_eq!(
            names(&steps),
            [
                "preflight",
                "certs/ca",
                "certs/apiserver",
                "kubeconfig/admin"
            ]
        );
    }

    #[test]
    fn plan_selects_and_skips_subtrees() {
        let steps = plan(TABLE, Some("certs"), &[]).unwrap();
        assert_eq!(names(&steps), ["certs/ca", "certs/apiserver"]);
        let steps = plan(TABLE, Some("certs/ca"), &[]).unwrap();
        assert_eq!(names(&steps), ["certs/ca"]);
        let skip = ["certs/ca".to_string(), "kubeconfig".to_string()];
        let steps = plan(TABLE, None, &skip).unwrap();
        assert_eq!(names(&steps), ["preflight", "certs/apiserver"]);
    }

    #[test]
    fn each_step_knows_the_groups_it_ends() {
        let steps = plan(TABLE, None, &["certs/apiserver".to_string()]).unwrap();
        let closes: Vec<Vec<String>> = steps.iter().map(|s| s.closes.clone()).collect();
        assert_eq!(
            closes,
            [
                vec!["preflight".to_string()],
                vec!["certs".into(), "certs/ca".into()],
                vec!["kubeconfig".into(), "kubeconfig/admin".into()],
            ]
        );
    }

    #[test]
    fn a_prefix_is_not_a_subtree() {
        let err = plan(TABLE, None, &["cert".to_string()]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("unknown phase `cert`"), "{msg}");
        assert!(msg.contains("certs/apiserver"), "{msg}");
    }

    #[test]
    fn help_lists_nested_phases() {
        let text = help("init", TABLE);
        assert!(text.contains("  certs                         Certificate generation\n"));
        assert!(text.contains("  /ca"));
    }
}
