//! `kubestrap cluster apply|status|reset|print-defaults` and the hidden `cluster agent` commands
//! that apply runs on each host.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::HashMap;
use std::io::{IsTerminal, Read};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context as _, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use kubestrap_phases::host::ssh::Settings;
use kubestrap_phases::workflows::cluster::{
    self, ApplyOptions, ApplyReport, Event, Events, HostOutcome, ResetOptions, State, agent, file,
};

use crate::cli::{AgentCmd, ClusterCmd, ClusterOutput, SshArgs};
use crate::exit;
use crate::output::Printer;

/// Runs a `cluster` subcommand.
pub fn run(cmd: ClusterCmd, root: &Path, printer: &Printer) -> Result<ExitCode> {
    match cmd {
        ClusterCmd::PrintDefaults => {
            printer.raw(&file::example());
            Ok(ExitCode::SUCCESS)
        }
        ClusterCmd::Agent(AgentCmd::Facts) => {
            printer.data(&serde_json::to_string(&agent::facts(root))?);
            Ok(ExitCode::SUCCESS)
        }
        ClusterCmd::Agent(AgentCmd::Nodes) => {
            let mut input = String::new();
            std::io::stdin()
                .take(1 << 20)
                .read_to_string(&mut input)
                .context("failed to read the request on stdin")?;
            let req: agent::NodesRequest =
                serde_json::from_str(&input).context("stdin holds no nodes request")?;
            let reply = agent::nodes(root, &req, printer)?;
            printer.data(&serde_json::to_string(&reply)?);
            Ok(ExitCode::SUCCESS)
        }
        ClusterCmd::Apply(args) => {
            let file = load(&args.ssh)?;
            let events =
                EventPrinter::new(args.ssh.output, file.hosts.iter().map(|h| h.name.clone()))
                    .asking(printer.clone().assume_yes(args.yes, "--yes"));
            let opts = ApplyOptions {
                file,
                ssh: settings(&args.ssh),
                fix: args.fix,
                prune: args.prune,
                drain_timeout: args.drain_timeout,
                admin_kubeconfig: args.admin_kubeconfig.clone(),
                binary: std::env::current_exe().context("failed to find this kubestrap binary")?,
                command: super::command_line(),
            };
            let result = cluster::apply(opts, &events);
            events.finish();
            match result {
                Ok(report) => Ok(summary(&report, args.ssh.output, &args.ssh)),
                Err(e) => nothing_done(&e, args.ssh.output),
            }
        }
        ClusterCmd::Status(args) => {
            let file = load(&args.ssh)?;
            let events = EventPrinter::quiet(args.ssh.output);
            let binary = std::env::current_exe().context("failed to find this kubestrap binary")?;
            let rows = cluster::status(&file, &settings(&args.ssh), &binary, &events)?;
            if args.ssh.output == ClusterOutput::Json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                let mut table = vec![vec![
                    "HOST".to_string(),
                    "ROLE".into(),
                    "REACHABLE".into(),
                    "KUBELET".into(),
                    "READY".into(),
                    "CERTIFICATES UNTIL".into(),
                ]];
                for r in &rows {
                    table.push(vec![
                        r.host.clone(),
                        r.role.as_str().into(),
                        if r.reachable {
                            "yes".into()
                        } else {
                            "no".into()
                        },
                        r.kubelet_version.clone().unwrap_or_else(|| "-".into()),
                        r.ready.clone().unwrap_or_else(|| "-".into()),
                        r.cert_expiry.clone().unwrap_or_else(|| "-".into()),
                    ]);
                }
                print!("{}", columns(&table));
                for r in rows.iter().filter_map(|r| r.error.as_deref()) {
                    eprintln!("\n{r}");
                }
            }
            let all = rows.iter().all(|r| r.reachable && r.error.is_none());
            Ok(if all {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(exit::PARTIAL)
            })
        }
        ClusterCmd::Reset(args) => {
            let file = load(&args.ssh)?;
            let names: Vec<&str> = file.hosts.iter().map(|h| h.name.as_str()).collect();
            let question = format!(
                "This resets every host of {}: {}. Are you sure",
                args.ssh.file.display(),
                names.join(", ")
            );
            let printer = printer.clone().assume_yes(args.yes, "--yes");
            if !kubestrap_phases::workflows::Reporter::confirm(&printer, &question) {
                anyhow::bail!("nothing was reset: answer yes, or pass --yes");
            }
            let events =
                EventPrinter::new(args.ssh.output, file.hosts.iter().map(|h| h.name.clone()));
            let opts = ResetOptions {
                file,
                ssh: settings(&args.ssh),
                force: args.force,
                binary: std::env::current_exe().context("failed to find this kubestrap binary")?,
            };
            let result = cluster::reset(&opts, &events);
            events.finish();
            match result {
                Ok(failed) if failed.is_empty() => Ok(ExitCode::SUCCESS),
                Ok(failed) => {
                    for (host, error) in &failed {
                        eprintln!("FAILED {host}: {error}");
                    }
                    eprintln!("\nretry: {}", super::command_line());
                    Ok(ExitCode::from(exit::PARTIAL))
                }
                Err(e) => nothing_done(&e, args.ssh.output),
            }
        }
    }
}

fn load(args: &SshArgs) -> Result<file::ClusterFile> {
    let file = file::load(&args.file)?;
    for w in &file.warnings {
        eprintln!("[WARNING config]: {w}");
    }
    Ok(file)
}

fn settings(args: &SshArgs) -> Settings {
    Settings {
        known_hosts: args.known_hosts.clone(),
        accept_new_host_keys: args.accept_new_host_keys,
        connect_timeout: Duration::from_secs(args.connect_timeout.max(1)),
        logs: Some(args.logs.clone()),
    }
}

fn nothing_done(err: &anyhow::Error, output: ClusterOutput) -> Result<ExitCode> {
    if output == ClusterOutput::Json {
        println!(
            "{}",
            serde_json::json!({"result": "nothing-done", "error": format!("{err:#}")})
        );
    }
    let code = exit::report(err);
    // Stopped by a signal: 130 or 143, as every command.
    if kubestrap_phases::host::interrupt::Interrupted::find(err).is_some() {
        return Ok(code);
    }
    Ok(ExitCode::from(exit::NOTHING_DONE))
}

/// The end of an apply: each host's outcome, the nodes, what the file no longer lists, and for
/// each failed host its error and the command to retry.
fn summary(report: &ApplyReport, output: ClusterOutput, args: &SshArgs) -> ExitCode {
    let failed = report.failed();
    let code = if failed.is_empty() {
        ExitCode::SUCCESS
    } else if report.changed || failed.len() < report.hosts.len() {
        ExitCode::from(exit::PARTIAL)
    } else {
        ExitCode::from(exit::NOTHING_DONE)
    };
    let retry = super::command_line();
    if output == ClusterOutput::Json {
        let hosts: Vec<serde_json::Value> = report
            .hosts
            .iter()
            .chain(&report.pruned)
            .map(|h| {
                let (state, text) = outcome(&h.outcome);
                serde_json::json!({"host": h.name, "result": state, "message": text})
            })
            .collect();
        let result = if failed.is_empty() {
            "all-done"
        } else if code == ExitCode::from(exit::PARTIAL) {
            "partial"
        } else {
            "nothing-done"
        };
        println!(
            "{}",
            serde_json::json!({
                "result": result,
                "changed": report.changed,
                "hosts": hosts,
                "nodes": report.nodes,
                "notInFile": report.not_in_file,
                "retry": (!failed.is_empty()).then_some(&retry),
            })
        );
        return code;
    }
    eprintln!();
    for h in report.hosts.iter().chain(&report.pruned) {
        let (state, text) = outcome(&h.outcome);
        eprintln!("{:<10} {}: {text}", state, h.name);
    }
    if !report.nodes.is_empty() {
        let mut table = vec![vec![
            "NAME".to_string(),
            "STATUS".into(),
            "ROLES".into(),
            "CREATED".into(),
            "VERSION".into(),
        ]];
        for n in &report.nodes {
            table.push(vec![
                n.name.clone(),
                match n.ready.as_str() {
                    "True" => "Ready".into(),
                    _ => "NotReady".into(),
                },
                if n.roles.is_empty() {
                    "<none>".into()
                } else {
                    n.roles.join(",")
                },
                n.created.clone(),
                n.kubelet_version.clone(),
            ]);
        }
        eprintln!();
        print!("{}", columns(&table));
    }
    for r in &report.not_in_file {
        eprintln!(
            "\nnot in {}: {} (node {}, {}:{}) is still in the cluster; `--prune` drains and resets it",
            args.file.display(),
            r.name,
            r.node,
            r.address,
            r.port
        );
    }
    if !failed.is_empty() {
        eprintln!();
        for h in &failed {
            let (_, text) = outcome(&h.outcome);
            eprintln!(
                "FAILED {}: {text}\n  log: {}",
                h.name,
                args.logs.join(format!("{}.log", h.name)).display()
            );
        }
        eprintln!("\nretry: {retry}");
    } else if !report.changed {
        eprintln!(
            "\nnothing to do: every host is in the cluster as {} says",
            args.file.display()
        );
    }
    code
}

fn outcome(o: &HostOutcome) -> (&'static str, &str) {
    match o {
        HostOutcome::Unchanged(t) => ("unchanged", t),
        HostOutcome::Done(t) => ("done", t),
        HostOutcome::Refused(t) => ("refused", t),
        HostOutcome::Failed(t) => ("failed", t),
    }
}

/// Rows as aligned columns.
fn columns(rows: &[Vec<String>]) -> String {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..n)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, String::len))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(c, v)| format!("{v:<w$}", w = widths[c]))
            .collect();
        out.push_str(line.join("   ").trim_end());
        out.push('\n');
    }
    out
}

/// Prints a run's events: a live line per host on a terminal, plain lines when piped, one JSON
/// object per line with `-o json`.
struct EventPrinter {
    json: bool,
    quiet: bool,
    live: Option<(MultiProgress, Mutex<HashMap<String, ProgressBar>>)>,
    /// Who answers [`Events::confirm`]: a person at the terminal, or `--yes`.
    asking: Option<Printer>,
}

impl EventPrinter {
    fn new(output: ClusterOutput, hosts: impl Iterator<Item = String>) -> Self {
        let json = output == ClusterOutput::Json;
        let live = (!json && std::io::stderr().is_terminal()).then(|| {
            let multi = MultiProgress::new();
            let style = ProgressStyle::with_template("{spinner} {prefix:.bold} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            let bars = hosts
                .map(|h| {
                    let bar = multi.add(ProgressBar::new_spinner());
                    bar.set_style(style.clone());
                    bar.set_prefix(h.clone());
                    bar.enable_steady_tick(Duration::from_millis(120));
                    (h, bar)
                })
                .collect();
            (multi, Mutex::new(bars))
        });
        EventPrinter {
            json,
            quiet: false,
            live,
            asking: None,
        }
    }

    /// Questions answered through `printer` (without it: no).
    fn asking(mut self, printer: Printer) -> Self {
        self.asking = Some(printer);
        self
    }

    /// Nothing (the commands that print a table of their own, with the errors).
    fn quiet(output: ClusterOutput) -> Self {
        EventPrinter {
            json: output == ClusterOutput::Json,
            quiet: true,
            live: None,
            asking: None,
        }
    }

    fn finish(&self) {
        if let Some((_, bars)) = &self.live
            && let Ok(bars) = bars.lock()
        {
            for bar in bars.values() {
                bar.finish();
            }
        }
    }
}

impl Events for EventPrinter {
    fn confirm(&self, question: &str) -> bool {
        let Some(printer) = &self.asking else {
            return false;
        };
        let ask = || kubestrap_phases::workflows::Reporter::confirm(printer, question);
        match &self.live {
            // The live lines hold still while a person answers.
            Some((multi, _)) => multi.suspend(ask),
            None => ask(),
        }
    }

    fn event(&self, e: Event) {
        if self.quiet {
            return;
        }
        if self.json {
            println!("{}", serde_json::to_string(&e).unwrap_or_default());
            return;
        }
        let mark = match e.state {
            State::Failed => "FAILED ",
            State::Unchanged => "unchanged ",
            _ => "",
        };
        let line = format!("{}: {mark}{}", e.step, e.message);
        if !e.plan.is_empty() {
            // A plan stays on screen above the live lines, to be read before the question.
            let mut block = format!("[{}] {line}:", e.host.as_deref().unwrap_or("cluster"));
            for step in &e.plan {
                block.push_str(&format!("\n    {step}"));
            }
            match &self.live {
                Some((multi, _)) => {
                    let _ = multi.println(block);
                }
                None => eprintln!("{block}"),
            }
            return;
        }
        if let Some((multi, bars)) = &self.live {
            match e
                .host
                .as_ref()
                .and_then(|h| bars.lock().ok()?.get(h).cloned())
            {
                Some(bar) => {
                    // One line per host: its latest step; failures also stay above the lines.
                    if e.state == State::Failed {
                        let _ = multi.println(format!(
                            "[{}] {line}",
                            e.host.as_deref().unwrap_or_default()
                        ));
                    }
                    bar.set_message(line);
                }
                None => {
                    let _ = multi.println(format!("[cluster] {line}"));
                }
            }
            return;
        }
        eprintln!("[{}] {line}", e.host.as_deref().unwrap_or("cluster"));
    }
}
