//! The `preflight` phase: kubeadm's checks with kubeadm's names and levels for the target version,
//! each failure explained with the fix for this host, and a reviewable, reversible `--fix`.
//!
//! [`checks`] holds the check table, [`fix`] the plan, the journal and `--undo-fixes`; the CRI
//! client is [`crate::cri`], containerd's config [`crate::host::containerd`].

mod checks;
pub mod fix;

use std::cell::OnceCell;
use std::fmt;

use anyhow::{Result, bail};

use crate::cri;
use crate::host::containerd;
use crate::runner::context::Context;
pub use crate::version::CheckLevel as Level;

/// What one check found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// The level kubeadm gives it.
    pub level: Level,
    /// kubeadm's message.
    pub message: String,
    /// Why it happens on this host, when kubestrap can tell.
    pub why: Option<String>,
    /// What to run or change on this host, one line each.
    pub fix: Vec<String>,
    /// What `--fix` can do about it.
    pub repair: Option<fix::Repair>,
}

impl Issue {
    fn new(level: Level, message: impl Into<String>) -> Self {
        Issue {
            level,
            message: message.into(),
            why: None,
            fix: Vec::new(),
            repair: None,
        }
    }
    fn error(message: impl Into<String>) -> Self {
        Issue::new(Level::Error, message)
    }
    fn warning(message: impl Into<String>) -> Self {
        Issue::new(Level::Warning, message)
    }
    fn why(mut self, why: impl Into<String>) -> Self {
        self.why = Some(why.into());
        self
    }
    fn fix(mut self, line: impl Into<String>) -> Self {
        self.fix.push(line.into());
        self
    }
    fn repair(mut self, repair: fix::Repair) -> Self {
        self.repair = Some(repair);
        self
    }
}

/// One issue as reported: the check's name and the level after `--ignore-preflight-errors`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub check: String,
    pub level: Level,
    /// An error demoted to a warning by `--ignore-preflight-errors`.
    pub ignored: bool,
    pub issue: Issue,
}

impl Finding {
    /// The text after `[ERROR Name]: `: kubeadm's message, then why and the fix, indented.
    pub fn text(&self) -> String {
        let mut text = self.issue.message.clone();
        if let Some(why) = &self.issue.why {
            text.push_str(&format!("\n\twhy: {why}"));
        }
        for (i, line) in self.issue.fix.iter().enumerate() {
            let label = if i == 0 { "fix:" } else { "    " };
            text.push_str(&format!("\n\t{label} {line}"));
        }
        if self.issue.repair.is_some() {
            text.push_str(
                "\n\tauto: `--fix` does this for you, reversibly (kubestrap preflight --fix)",
            );
        }
        text
    }
}

/// Everything one run of the checks found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub findings: Vec<Finding>,
}

impl Report {
    /// The findings that stop the run.
    pub fn errors(&self) -> Vec<&Finding> {
        self.findings
            .iter()
            .filter(|f| f.level == Level::Error)
            .collect()
    }

    /// The finding of a check, by name.
    pub fn get(&self, check: &str) -> Option<&Finding> {
        self.findings.iter().find(|f| f.check == check)
    }
}

/// Preflight found errors; the binary exits with kubeadm's preflight code (2).
#[derive(Debug)]
pub struct PreflightFailed {
    pub checks: Vec<String>,
}

impl fmt::Display for PreflightFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[preflight] Some fatal errors occurred: {}\n\nhint: each error above says how to fix it; `--fix` applies those marked `auto`. If you know what you are doing, you can make a check non-fatal with `--ignore-preflight-errors=...`",
            self.checks.join(", ")
        )
    }
}

impl std::error::Error for PreflightFailed {}

/// Which node the checks are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Init,
    Join,
    /// A join that makes a control-plane node: the join checks and init's node checks.
    JoinControlPlane,
}

impl Role {
    /// Whether the node runs a control plane (init's node checks apply).
    pub fn control_plane(self) -> bool {
        matches!(self, Role::Init | Role::JoinControlPlane)
    }

    /// Whether the node joins a cluster (the join checks apply).
    pub fn joins(self) -> bool {
        matches!(self, Role::Join | Role::JoinControlPlane)
    }
}

/// Facts several checks share, each found once.
pub(crate) struct Probe<'a> {
    pub ctx: &'a Context,
    containerd: OnceCell<Option<Result<(containerd::Settings, String), String>>>,
    cri: OnceCell<Result<cri::RuntimeStatus, cri::CallError>>,
}

impl<'a> Probe<'a> {
    fn new(ctx: &'a Context) -> Self {
        Probe {
            ctx,
            containerd: OnceCell::new(),
            cri: OnceCell::new(),
        }
    }

    /// Whether a file is the resumed run's own: written by a phase it finished, unchanged since.
    pub fn resumed_owns(&self, path: &str) -> bool {
        self.ctx
            .record
            .as_ref()
            .is_some_and(|r| r.resuming() && r.owns(&self.ctx.root, path))
    }
}

/// Runs the init checks; a `phase` of the init workflow.
pub fn run_init(ctx: &mut Context) -> Result<()> {
    let result = run(ctx, Role::Init);
    dry_run_goes_on(ctx, result, "init")
}

/// A dry run of init or join reports the errors and goes on to show the rest of the plan, as
/// kubeadm's does: it changes nothing, and the plan is what it is for.
fn dry_run_goes_on(ctx: &Context, result: Result<()>, command: &str) -> Result<()> {
    match result {
        Err(e) if ctx.opts.dry_run => match e.downcast_ref::<PreflightFailed>() {
            Some(failed) => {
                ctx.out.warn(
                    "dryrun",
                    &format!(
                        "pre-flight errors ({}): `kubestrap {command}` without --dry-run would stop here with exit code 2; the dry run goes on to show the rest",
                        failed.checks.join(", ")
                    ),
                );
                Ok(())
            }
            None => Err(e),
        },
        other => other,
    }
}

/// Runs the join checks.
pub fn run_join(ctx: &mut Context) -> Result<()> {
    let control_plane = ctx.cfg.join.as_ref().is_some_and(|j| j.control_plane);
    let result = if control_plane {
        run(ctx, Role::JoinControlPlane)
    } else {
        run(ctx, Role::Join)
    };
    dry_run_goes_on(ctx, result, "join")
}

/// Runs the checks, offers the fixes when asked, and fails with [`PreflightFailed`] on errors.
pub fn run(ctx: &mut Context, role: Role) -> Result<()> {
    ctx.out.status("preflight", "Running pre-flight checks");
    let mut report = check(ctx, role);
    print(ctx, &report);
    if ctx.opts.fix && report.findings.iter().any(|f| f.issue.repair.is_some()) {
        let plan = fix::plan(ctx, &report)?;
        if fix::offer(ctx, &plan)? {
            ctx.out.status(
                "preflight",
                "Running pre-flight checks again after the fixes",
            );
            report = check(ctx, role);
            print(ctx, &report);
        }
    }
    fail_on_errors(&report)?;
    // kubeadm pulls the images in a run of its own once the checks pass; never in a dry run.
    if role.control_plane() && !ctx.opts.dry_run {
        for line in [
            "Pulling images required for setting up a Kubernetes cluster",
            "This might take a minute or two, depending on the speed of your internet connection",
            "You can also perform this action beforehand: `crictl pull <image>` for each image `kubestrap preflight -v` names",
        ] {
            ctx.out.status("preflight", line);
        }
        let report = check_images(ctx);
        print(ctx, &report);
        fail_on_errors(&report)?;
    }
    Ok(())
}

fn fail_on_errors(report: &Report) -> Result<()> {
    let errors = report.errors();
    if errors.is_empty() {
        return Ok(());
    }
    Err(PreflightFailed {
        checks: errors.iter().map(|f| f.check.clone()).collect(),
    }
    .into())
}

/// The `ImagePull` check alone: every control-plane image present in the runtime, pulling the
/// missing ones per `nodeRegistration.imagePullPolicy`.
pub fn check_images(ctx: &Context) -> Report {
    let probe = Probe::new(ctx);
    let mut report = Report::default();
    collect(
        ctx,
        &mut report,
        ("ImagePull".to_string(), checks::image_pull(&probe)),
    );
    report
}

/// The names of the role's checks for this configuration (what `--ignore-preflight-errors`
/// takes), without running any.
pub fn check_names(ctx: &Context, role: Role) -> Vec<String> {
    let mut names = vec!["IsPrivilegedUser".to_string(), "ImagePull".to_string()];
    names.extend(checks::table(ctx, role).into_iter().map(|c| c.name));
    names
}

/// Runs every check for the role without printing: the root check first and alone, as kubeadm does.
pub fn check(ctx: &Context, role: Role) -> Report {
    let mut probe = Probe::new(ctx);
    let mut report = Report::default();
    let root_check = checks::privileged_user(&probe);
    collect(ctx, &mut report, root_check);
    if !report.errors().is_empty() {
        return report;
    }
    for check in checks::table(ctx, role) {
        let issues = (check.run)(&mut probe);
        collect(ctx, &mut report, (check.name, issues));
    }
    report
}

fn collect(ctx: &Context, report: &mut Report, (name, issues): (String, Vec<Issue>)) {
    let ignored = ignores(&ctx.opts.ignore_preflight_errors, &name);
    for issue in issues {
        let demote = ignored && issue.level == Level::Error;
        report.findings.push(Finding {
            check: name.clone(),
            level: if demote { Level::Warning } else { issue.level },
            ignored: demote,
            issue,
        });
    }
}

/// Whether `--ignore-preflight-errors` (lower-cased) names the check or says `all`.
pub fn ignores(list: &[String], check: &str) -> bool {
    let name = check.to_lowercase();
    list.iter().any(|i| i == "all" || *i == name)
}

/// Prints the warnings, then the errors, as kubeadm orders them.
pub fn print(ctx: &Context, report: &Report) {
    for f in report.findings.iter().filter(|f| f.level == Level::Warning) {
        ctx.out.warn(&f.check, &f.text());
    }
    for f in report.errors() {
        ctx.out.error(&f.check, &f.text());
    }
}

/// The `preflight` phase of reset: the user agrees, and kubestrap runs as root.
pub fn run_reset(ctx: &mut Context) -> Result<()> {
    ctx.out.warn(
        "reset",
        "Changes made to this host by 'kubestrap init' (or 'kubeadm init' / 'kubeadm join') will be reverted.",
    );
    if ctx.opts.dry_run {
        // A dry run changes nothing, so there is nothing to agree to.
        ctx.out.status("reset", "Would ask \"Are you sure you want to proceed?\" (a dry run changes nothing, so it does not)");
    } else if !ctx.out.confirm("[reset] Are you sure you want to proceed?") {
        bail!("aborted reset operation\n\nhint: pass --force to reset without being asked");
    }
    ctx.out.status("preflight", "Running pre-flight checks");
    if !ctx.opts.dry_run
        && !ctx.host.is_root()
        && !ignores(&ctx.opts.ignore_preflight_errors, "IsPrivilegedUser")
    {
        bail!(
            "[preflight] Some fatal errors occurred:\n\t[ERROR IsPrivilegedUser]: user is not running as root\n\nhint: run it again with sudo"
        );
    }
    Ok(())
}
