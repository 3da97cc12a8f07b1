//! Command-line definitions, one file per command (as `src/commands/`). The `phase` subcommand
//! trees are generated from the phase tables.

use std::path::PathBuf;

use clap::{ArgMatches, Args, Command, CommandFactory, FromArgMatches, Parser, Subcommand};
use kubestrap_phases::workflows::{self, Phase};

mod certs;
mod cluster;
mod config;
mod init;
mod join;
mod preflight;
mod reset;
mod taint;
mod token;
mod upgrade;

pub use certs::{CertsArgs, CertsCmd, KubeconfigCmd};
pub use cluster::{AgentCmd, ClusterCmd, ClusterOutput, SshArgs};
pub use config::{ConfigArgs, ConfigCmd, ImagesArgs, ImagesCmd, PrintCmd};
pub use init::InitArgs;
pub use join::JoinArgs;
pub use preflight::PreflightArgs;
pub use reset::ResetArgs;
pub use taint::{TaintArgs, TaintCmd};
pub use token::{TokenArgs, TokenCmd};
pub use upgrade::{CommonArgs, NodeArgs, UpgradeCmd};

/// `--root`: a folder, or one to be made; an existing file would fail later, on a path that
/// looks like the real `/etc`.
fn root_dir(value: &str) -> Result<PathBuf, String> {
    if value.is_empty() {
        return Err(
            "an empty folder name is not a root (it would be the current folder): give --root / for this machine, or the folder that stands for `/`".into(),
        );
    }
    let path = PathBuf::from(value);
    match std::fs::metadata(&path) {
        Ok(meta) if !meta.is_dir() => Err(format!(
            "{value} is a file, not a folder: --root takes the folder that stands for `/`"
        )),
        _ => Ok(path),
    }
}

/// Bootstrap a Kubernetes cluster the way kubeadm does; failures say what, why and how to fix.
#[derive(Debug, Parser)]
#[command(name = "kubestrap", version, propagate_version = true)]
pub struct Cli {
    /// Folder that stands for `/`: every file read or written maps under it.
    #[arg(long, global = true, default_value = "/", value_name = "DIR", value_parser = root_dir)]
    pub root: PathBuf,
    /// Print more: phase names, and file contents with --dry-run.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// Log level as kubeadm spells it: any N of 1 or more is --verbose, 0 (the default) is not.
    #[arg(long = "v", global = true, value_name = "N", default_value_t = 0)]
    pub log_level: u32,
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Run this command in order to set up the Kubernetes control plane
    Init(Box<InitArgs>),
    /// Run this on any machine you wish to join an existing cluster
    Join(Box<JoinArgs>),
    /// Manage kubeadm-compatible configuration files
    Config(ConfigArgs),
    /// Manage bootstrap tokens
    Token(TokenArgs),
    /// Remove or restore the control-plane taint (so a single node can run workloads)
    #[command(subcommand)]
    Taint(TaintCmd),
    /// A whole cluster from one file, over SSH: apply, status, reset
    #[command(subcommand)]
    Cluster(ClusterCmd),
    /// Run the pre-flight checks alone; with --fix, repair what they find (reversibly)
    Preflight(Box<PreflightArgs>),
    /// Performs a best effort revert of changes made to this host by 'kubestrap init'
    Reset(Box<ResetArgs>),
    /// Upgrade the cluster to a newer version: plan, apply (control plane), node
    #[command(subcommand, after_long_help = upgrade::EXAMPLES)]
    Upgrade(UpgradeCmd),
    /// Commands related to handling kubernetes certificates (expiry, renewal, external CA)
    #[command(subcommand)]
    Certs(CertsCmd),
    /// Kubeconfig file utilities
    #[command(subcommand)]
    Kubeconfig(KubeconfigCmd),
    /// Print the shell completion script: `source <(kubestrap completion bash)`
    Completion {
        /// The shell to complete in.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the version of kubestrap, the Kubernetes versions it deploys, and its git commit
    Version {
        /// Output format: short prints the version alone.
        #[arg(short, long, value_enum, default_value_t)]
        output: VersionFormat,
    },
}

impl Cli {
    /// Whether `-v`/`--verbose` or `--v=N` (N ≥ 1) asked for more output.
    pub fn verbose(&self) -> bool {
        self.verbose || self.log_level >= 1
    }
}

/// How `kubestrap version` prints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum VersionFormat {
    #[default]
    Text,
    Short,
    Json,
    Yaml,
}

/// How a command prints its result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
    Yaml,
}

/// Flags of commands that talk to a running cluster.
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// The kubeconfig file to use when talking to the cluster (maps under --root). Without it,
    /// $KUBECONFIG as kubectl reads it (the first file of a `:`-separated list), else
    /// /etc/kubernetes/admin.conf.
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<String>,
    /// How long to wait for the API server to answer (Go duration: 30s, 2m).
    #[arg(long, value_name = "DURATION", default_value = "1m0s", value_parser = duration)]
    timeout: std::time::Duration,
}

/// A Go duration (`90s`, `1m30s`), as kubeadm's flags take them.
pub fn duration(value: &str) -> Result<std::time::Duration, String> {
    kubestrap_phases::config::duration::parse(value).map_err(|e| format!("{e:#}"))
}

/// The kubeconfig when neither `--kubeconfig` nor `$KUBECONFIG` names one.
const DEFAULT_KUBECONFIG: &str = "/etc/kubernetes/admin.conf";

impl ClusterArgs {
    /// The kubeconfig to use: `--kubeconfig`, else `$KUBECONFIG`, else admin.conf.
    pub fn kubeconfig(&self) -> String {
        let from_env = std::env::var_os("KUBECONFIG").map(|v| v.to_string_lossy().into_owned());
        resolve_kubeconfig(self.kubeconfig.as_deref(), from_env.as_deref())
    }

    /// The kubeconfig and the wait, for the workflows.
    pub fn cluster(&self) -> kubestrap_phases::workflows::Cluster {
        kubestrap_phases::workflows::Cluster {
            kubeconfig: self.kubeconfig(),
            timeout: self.timeout,
        }
    }
}

/// kubectl merges every file of a `KUBECONFIG` list; kubestrap uses one cluster, so the first
/// (empty entries are skipped, as kubectl does).
fn resolve_kubeconfig(flag: Option<&str>, env: Option<&str>) -> String {
    flag.or_else(|| env.and_then(|list| list.split(':').find(|p| !p.is_empty())))
        .unwrap_or(DEFAULT_KUBECONFIG)
        .to_string()
}

/// What the user asked for: the parsed command line, plus the phase path of `init phase …` or
/// `reset phase …`.
#[derive(Debug)]
pub struct Invocation {
    pub cli: Cli,
    /// `Some("certs/ca")` for `kubestrap init phase certs ca`.
    pub init_phase: Option<String>,
    /// `Some("cleanup-node")` for `kubestrap reset phase cleanup-node`.
    pub reset_phase: Option<String>,
    /// `Some("kubelet-start")` for `kubestrap join phase kubelet-start`.
    pub join_phase: Option<String>,
    /// `Some("kubelet-config")` for `kubestrap upgrade node phase kubelet-config`.
    pub upgrade_node_phase: Option<String>,
}

/// The whole command, with the generated `init phase` and `reset phase` trees.
pub fn build() -> Command {
    let init_phases = phase_command::<InitArgs>(
        Command::new("phase")
            .about("Use this command to invoke single phase of the init workflow")
            .subcommand_required(true),
        &workflows::init::tables(),
    );
    let reset_phases = phase_command::<ResetArgs>(
        Command::new("phase")
            .about("Use this command to invoke single phase of the reset workflow")
            .subcommand_required(true),
        &[workflows::reset::PHASES],
    );
    let join_phases = phase_command::<JoinArgs>(
        Command::new("phase")
            .about("Use this command to invoke single phase of the join workflow")
            .subcommand_required(true),
        &workflows::join::tables(),
    );
    let upgrade_node_phases = phase_command::<NodeArgs>(
        Command::new("phase")
            .about("Use this command to invoke single phase of the node workflow")
            .subcommand_required(true),
        &[workflows::upgrade::NODE],
    );
    Cli::command()
        .mut_subcommand("upgrade", |cmd| {
            cmd.mut_subcommand("node", |node| {
                node.after_long_help(workflows::help("node", workflows::upgrade::NODE))
                    .subcommand(upgrade_node_phases)
                    .args_conflicts_with_subcommands(true)
            })
        })
        .mut_subcommand("join", |cmd| {
            cmd.after_long_help(
                workflows::help("join", workflows::join::tables()[0]) + join::EXAMPLES,
            )
            .subcommand(join_phases)
            .args_conflicts_with_subcommands(true)
        })
        .mut_subcommand("init", |cmd| {
            // A flag before `phase` would belong to `init`, not to the phase, and be dropped.
            cmd.after_long_help(
                workflows::help("init", workflows::init::tables()[0]) + init::EXAMPLES,
            )
            .subcommand(init_phases)
            .args_conflicts_with_subcommands(true)
        })
        .mut_subcommand("reset", |cmd| {
            cmd.after_long_help(
                workflows::help("reset", workflows::reset::PHASES) + reset::EXAMPLES,
            )
            .subcommand(reset_phases)
            .args_conflicts_with_subcommands(true)
        })
}

/// Adds a subcommand per phase of `tables`: every name any of them has, in the order it first
/// appears (kubeadm versions name some sub-phases differently; the plan for the configured
/// version then says which exist).
fn phase_command<A: Args>(mut cmd: Command, tables: &[&'static [Phase]]) -> Command {
    let mut names: Vec<&str> = Vec::new();
    for phase in tables.iter().flat_map(|t| t.iter()) {
        if !names.contains(&phase.name) {
            names.push(phase.name);
        }
    }
    for name in names {
        let same: Vec<&Phase> = tables
            .iter()
            .flat_map(|t| t.iter())
            .filter(|p| p.name == name)
            .collect();
        // The flags' struct carries a doc comment of its own, which would replace the phase's.
        let mut sub = A::augment_args(Command::new(name))
            .about(same[0].about)
            .long_about(None);
        let children: Vec<&'static [Phase]> = same
            .iter()
            .map(|p| p.children)
            .filter(|c| !c.is_empty())
            .collect();
        if !children.is_empty() {
            // kubeadm spells "run every sub-phase" as `all`; running the group does the same.
            let all = A::augment_args(Command::new("all"))
                .about("Run every sub-phase of this phase")
                .long_about(None);
            sub = phase_command::<A>(sub.subcommand(all), &children);
        }
        cmd = cmd.subcommand(sub);
    }
    cmd
}

/// Parses the process arguments; exits with a usage error like any clap program.
pub fn parse() -> Invocation {
    let matches = build().get_matches_from(kubeadm_verbosity(std::env::args_os()));
    from_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// kubeadm's log level spellings `-v 5` and `-v=5` as `--v=5`; `-v` alone stays kubestrap's
/// `--verbose`. Only a number right after `-v` is taken, so `kubestrap -v init` still parses;
/// nothing after `--` is touched.
fn kubeadm_verbosity(
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> Vec<std::ffi::OsString> {
    let is_level = |a: &str| !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit());
    let mut out = Vec::new();
    let mut args = args.into_iter().peekable();
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--") => {
                out.push(arg);
                out.extend(args);
                break;
            }
            Some("-v") if args.peek().and_then(|n| n.to_str()).is_some_and(is_level) => {
                let level = args.next().unwrap_or_default();
                out.push(format!("--v={}", level.to_string_lossy()).into());
            }
            Some(a) if a.strip_prefix("-v=").is_some_and(is_level) => {
                out.push(format!("--v={}", &a[3..]).into());
            }
            _ => out.push(arg),
        }
    }
    out
}

fn from_matches(matches: &ArgMatches) -> Result<Invocation, clap::Error> {
    let mut cli = Cli::from_arg_matches(matches)?;
    let (mut init_phase, mut reset_phase, mut join_phase) = (None, None, None);
    let mut upgrade_node_phase = None;
    if let Some(("upgrade", m)) = matches.subcommand()
        && let Some(("node", m)) = m.subcommand()
        && let Some(("phase", m)) = m.subcommand()
    {
        let (path, flags) = phase_path(m);
        cli.command = Cmd::Upgrade(UpgradeCmd::Node(Box::new(NodeArgs::from_arg_matches(
            flags,
        )?)));
        upgrade_node_phase = Some(path);
    } else if let Some((command, m)) = matches.subcommand()
        && let Some(("phase", m)) = m.subcommand()
    {
        let (path, flags) = phase_path(m);
        match command {
            "init" => {
                cli.command = Cmd::Init(Box::new(InitArgs::from_arg_matches(flags)?));
                init_phase = Some(path);
            }
            "join" => {
                cli.command = Cmd::Join(Box::new(JoinArgs::from_arg_matches(flags)?));
                join_phase = Some(path);
            }
            _ => {
                cli.command = Cmd::Reset(Box::new(ResetArgs::from_arg_matches(flags)?));
                reset_phase = Some(path);
            }
        }
    }
    Ok(Invocation {
        cli,
        init_phase,
        reset_phase,
        join_phase,
        upgrade_node_phase,
    })
}

/// The `/`-joined phase path below a `phase` subcommand, and the matches that hold its flags.
fn phase_path(mut m: &ArgMatches) -> (String, &ArgMatches) {
    let mut path = Vec::new();
    while let Some((name, sub)) = m.subcommand() {
        if name != "all" {
            path.push(name);
        }
        m = sub;
    }
    (path.join("/"), m)
}

#[cfg(test)]
mod tests;
