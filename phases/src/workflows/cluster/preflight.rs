//! The preflight of `cluster apply`: `kubestrap preflight` on every host that will init or join,
//! at once, and one table of what fails. With `--fix` it goes as `kubestrap preflight --fix` on
//! one host does: each host's plan of fixes is shown first (a `--dry-run` of the fix there),
//! applied only after a yes, and the checks run again on every host after.

use anyhow::{Context as _, Result, bail};
use futures_util::future::join_all;

use super::agent::Facts;
use super::configs::preflight_config;
use super::file::{ClusterFile, Role};
use super::plan::{Action, Plan};
use super::remote::{Ahead, Conn};
use super::{Event, Events, State, emit};
use crate::preflight::fix::JOURNAL;

/// The hosts preflight checks, with whether each is the init host: those that init or join,
/// but a half-done init (init's own preflight knows its files) and a half-done join (reset
/// first).
pub(super) fn preflighted(plan: &Plan, facts: &[Facts]) -> Vec<(usize, bool)> {
    plan.actions
        .iter()
        .enumerate()
        .filter_map(|(i, a)| match a {
            Action::Init if !facts[i].kube_files => Some((i, true)),
            Action::Join { reset_first: false } => Some((i, false)),
            _ => None,
        })
        .collect()
}

/// The preflight a host is likely to need, run ahead with its facts ([`Ahead`]): an init's on
/// the file's first control plane, a join's elsewhere; with `fix`, the plan of fixes too. The
/// plan decides later whether it is the one needed (else it runs again).
pub(super) fn ahead(file: &ClusterFile, fix: bool) -> Vec<Option<Ahead>> {
    let first = file.hosts.iter().position(|h| h.role == Role::ControlPlane);
    let mode = if fix { Mode::Plan } else { Mode::Check };
    file.hosts
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let init = Some(i) == first;
            // A config that cannot be made fails later, in the preflight's own place.
            let config = preflight_config(file, host, init).ok()?;
            Some(Ahead {
                args: args(init, mode).iter().map(|a| a.to_string()).collect(),
                config,
            })
        })
        .collect()
}

/// `kubestrap preflight`'s arguments for the init host (else a join) in `mode`.
fn args(init: bool, mode: Mode) -> Vec<&'static str> {
    let mut args = vec!["preflight"];
    if !init {
        args.push("--join");
    }
    args.extend(match mode {
        Mode::Check => &[][..],
        Mode::Plan => &["--fix", "--dry-run"][..],
        Mode::Fix => &["--fix", "--yes"][..],
    });
    args
}

/// What one host's `kubestrap preflight` said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Found {
    /// The failing checks: name, and the message with its fix.
    pub errors: Vec<(String, String)>,
    /// The changes `--fix` makes there, one line each.
    pub plan: Vec<String>,
    /// `--fix` applied its plan and ran the checks again.
    pub fixed: bool,
    /// The command succeeded (every check passed).
    pub passed: bool,
}

/// Reads `kubestrap preflight`'s output: `[ERROR Check]: message` lines with their indented
/// `fix:`, and `[fix] N. change` lines of the plan.
pub(super) fn parse(text: &str) -> Found {
    let mut found = Found::default();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("[ERROR ")
            && let Some((check, msg)) = rest.split_once("]: ")
        {
            found.errors.push((check.to_string(), msg.to_string()));
        } else if let Some(last) = found.errors.last_mut()
            && let Some(fix) = line.trim_start().strip_prefix("fix:")
            && line.starts_with('\t')
        {
            last.1.push_str(&format!(" (fix: {})", fix.trim()));
        } else if let Some(step) = line.strip_prefix("[fix] ")
            && step
                .split_once(". ")
                .is_some_and(|(n, _)| n.parse::<u32>().is_ok())
        {
            found.plan.push(step.to_string());
        } else if line.starts_with("[preflight] Running pre-flight checks again after the fixes") {
            // What the checks found before the fixes no longer counts.
            found.errors.clear();
            found.fixed = true;
        }
    }
    found
}

/// How a host's preflight runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The checks only.
    Check,
    /// The checks and the plan of fixes, changing nothing (`--fix --dry-run`).
    Plan,
    /// The fixes applied, then the checks again (`--fix --yes`).
    Fix,
}

/// The preflight of the acting hosts.
pub(super) struct Preflight<'a> {
    pub file: &'a ClusterFile,
    pub conns: &'a [Conn],
    /// The hosts to check, with whether each is the init host ([`preflighted`]).
    pub checked: &'a [(usize, bool)],
    /// The command that runs this apply again.
    pub command: &'a str,
    pub events: &'a dyn Events,
}

impl Preflight<'_> {
    /// Runs the checks on every host; an error holds the table of what fails on which host.
    pub async fn check(&self) -> Result<()> {
        let found = self.run(Mode::Check, self.checked).await;
        report(self.file, &found, self.events);
        table(self.file, &found, self.command)
    }

    /// Shows each host's plan of fixes, asks, applies them, and runs the checks again. A no (or no
    /// terminal to ask, without `--yes`) changes nothing.
    pub async fn fix(&self) -> Result<()> {
        let found = self.run(Mode::Plan, self.checked).await;
        report(self.file, &found, self.events);
        if found.iter().any(|(_, r)| r.is_err()) {
            return table(self.file, &found, self.command);
        }
        let to_fix = offer(self.file, &found, self.events, self.command)?;
        if !to_fix.is_empty() {
            let checked: Vec<(usize, bool)> = self
                .checked
                .iter()
                .filter(|(i, _)| to_fix.contains(i))
                .copied()
                .collect();
            let fixed = self.run(Mode::Fix, &checked).await;
            let mut failed = Vec::new();
            for (i, r) in fixed {
                let name = &self.file.hosts[i].name;
                match r {
                    Ok(f) if f.fixed || f.passed => {
                        emit(self.events, Some(name), "fix", State::Done, "fixes applied")
                    }
                    Ok(_) => failed.push(format!(
                        "{name}: `kubestrap preflight --fix --yes` did not apply its plan (see the host's log)"
                    )),
                    Err(e) => failed.push(format!("{e:#}")),
                }
            }
            for f in &failed {
                emit(self.events, None, "fix", State::Failed, f.clone());
            }
            if !failed.is_empty() {
                bail!(
                    "{}\n\nnothing was initialised or joined; the fixes each host applied are in its {JOURNAL} (`kubestrap preflight --undo-fixes` there puts them back)",
                    failed.join("\n")
                );
            }
        }
        self.check().await
    }

    /// `kubestrap preflight` in `mode` on the `checked` hosts, at once.
    async fn run(&self, mode: Mode, checked: &[(usize, bool)]) -> Vec<(usize, Result<Found>)> {
        let runs = checked.iter().map(|&(i, init)| async move {
            let conn = &self.conns[i];
            let args = args(init, mode);
            let what = match mode {
                Mode::Check => "checking the host",
                Mode::Plan => "checking the host and what --fix would change",
                Mode::Fix => "applying the fixes",
            };
            let step = if mode == Mode::Fix {
                "fix"
            } else {
                "preflight"
            };
            emit(
                self.events,
                Some(&conn.host.name),
                step,
                State::Started,
                what,
            );
            let out = match conn.take_ahead(&args) {
                Some(out) => out,
                None => {
                    let config = preflight_config(self.file, &conn.host, init)?;
                    conn.preflight(&args, &config).await?
                }
            };
            let mut found = parse(&format!("{}\n{}", out.stdout, out.stderr));
            found.passed = out.success();
            if !out.success() && found.errors.is_empty() && !found.fixed {
                bail!(
                    "{}: `kubestrap {}` failed:\n{}",
                    conn.host.name,
                    args.join(" "),
                    out.tail()
                );
            }
            Ok(found)
        });
        let results = join_all(runs).await;
        checked.iter().map(|(i, _)| *i).zip(results).collect()
    }
}

/// Shows the plan of every host that has one and asks once for all; the hosts to fix. A no is an
/// error that says nothing changed.
pub(super) fn offer(
    file: &ClusterFile,
    found: &[(usize, Result<Found>)],
    events: &dyn Events,
    command: &str,
) -> Result<Vec<usize>> {
    let mut hosts = Vec::new();
    for (i, r) in found {
        let Ok(f) = r else { continue };
        if f.plan.is_empty() {
            continue;
        }
        let changes = match f.plan.len() {
            1 => "this change".to_string(),
            n => format!("these {n} changes"),
        };
        events.event(Event {
            host: Some(file.hosts[*i].name.clone()),
            step: "fix".into(),
            state: State::Info,
            message: format!("kubestrap preflight --fix would make {changes} here"),
            plan: f.plan.clone(),
        });
        hosts.push(*i);
    }
    if hosts.is_empty() {
        emit(
            events,
            None,
            "fix",
            State::Info,
            "nothing that --fix repairs on any host",
        );
        return Ok(hosts);
    }
    let names: Vec<&str> = hosts.iter().map(|&i| file.hosts[i].name.as_str()).collect();
    let question = format!(
        "Apply the fixes above on {}? Each host records them in its {JOURNAL}; `kubestrap preflight --undo-fixes` there puts them back",
        names.join(", ")
    );
    if !events.confirm(&question) {
        bail!(
            "nothing was changed on any host: the fixes above were not applied\n\nhint: answer yes at the prompt, or run `{command} --yes`"
        );
    }
    Ok(hosts)
}

/// One table of every failing check on every host (with the fix), as an error; `Ok` when all
/// passed.
pub(super) fn table(
    file: &ClusterFile,
    found: &[(usize, Result<Found>)],
    command: &str,
) -> Result<()> {
    let mut rows: Vec<(String, String, String)> = Vec::new();
    for (i, r) in found {
        let name = &file.hosts[*i].name;
        match r {
            Ok(f) => rows.extend(
                f.errors
                    .iter()
                    .map(|(c, m)| (name.clone(), c.clone(), m.clone())),
            ),
            Err(e) => rows.push((name.clone(), "(preflight)".into(), format!("{e:#}"))),
        }
    }
    if rows.is_empty() {
        return Ok(());
    }
    let w0 = rows.iter().map(|r| r.0.len()).max().unwrap_or(4).max(4);
    let w1 = rows.iter().map(|r| r.1.len()).max().unwrap_or(5).max(5);
    let mut text = format!("{:w0$}  {:w1$}  PROBLEM AND FIX\n", "HOST", "CHECK");
    for (h, c, m) in &rows {
        text.push_str(&format!("{h:w0$}  {c:w1$}  {m}\n"));
    }
    let hint = if command.split_whitespace().any(|a| a == "--fix") {
        "fix the problems left on their hosts (`--fix` repaired what it knows)".to_string()
    } else {
        format!(
            "fix each problem on its host, or run `{command} --fix` to apply the fixes kubestrap knows"
        )
    };
    Err(crate::preflight::PreflightFailed {
        checks: rows.iter().map(|r| format!("{} on {}", r.1, r.0)).collect(),
    })
    .context(format!(
        "pre-flight checks failed; nothing was changed in the cluster:\n{text}\nhint: {hint}"
    ))
}

/// Each host's outcome as an event: passed, or how many checks failed.
fn report(file: &ClusterFile, found: &[(usize, Result<Found>)], events: &dyn Events) {
    for (i, r) in found {
        let name = &file.hosts[*i].name;
        match r {
            Ok(f) if f.errors.is_empty() => {
                emit(events, Some(name), "preflight", State::Done, "passed")
            }
            Ok(f) => emit(
                events,
                Some(name),
                "preflight",
                State::Failed,
                format!("{} check(s) failed", f.errors.len()),
            ),
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests;
