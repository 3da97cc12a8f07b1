//! The flags of `kubestrap token`.

use clap::{Args, Subcommand, ValueEnum};

use super::{ClusterArgs, OutputFormat};

/// `kubestrap token …`: kubeadm's `--dry-run` applies to every token subcommand.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// Check everything and say what would be created or deleted, without changing the cluster.
    #[arg(long, global = true)]
    pub dry_run: bool,
    #[command(subcommand)]
    pub cmd: TokenCmd,
}

#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Create a bootstrap token on the server
    Create {
        /// The token to create (generated when absent).
        token: Option<String>,
        /// The duration before the token is automatically deleted (e.g. 1s, 2m, 3h); 0 never
        /// expires [default: the --config file's, else 24h0m0s].
        #[arg(long, value_name = "DURATION")]
        ttl: Option<String>,
        /// A human friendly description of how this token is used.
        #[arg(long, value_name = "TEXT")]
        description: Option<String>,
        /// Describes the ways in which this token can be used [default: the --config file's,
        /// else signing,authentication].
        #[arg(long, value_delimiter = ',', value_name = "USAGES")]
        usages: Vec<String>,
        /// Extra groups that this token will authenticate as when used for authentication
        /// [default: the --config file's, else system:bootstrappers:kubeadm:default-node-token].
        #[arg(long, value_delimiter = ',', value_name = "GROUPS")]
        groups: Vec<String>,
        /// A kubeadm configuration file: its InitConfiguration's first bootstrap token gives
        /// the token, ttl (or expires), description, usages and groups the flags leave out.
        #[arg(long, value_name = "FILE")]
        config: Option<std::path::PathBuf>,
        /// Instead of printing only the token, print the full join command.
        #[arg(long)]
        print_join_command: bool,
        /// With --print-join-command, print the control-plane join command with this key (the
        /// one `kubestrap init phase upload-certs --upload-certs` printed; checked against the
        /// kubeadm-certs Secret).
        #[arg(long, value_name = "KEY", requires = "print_join_command")]
        certificate_key: Option<String>,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t)]
        output: OutputFormat,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// List bootstrap tokens on the server
    List {
        /// Output format: text, json or yaml. kubeadm's templates (jsonpath=…, go-template=…)
        /// are refused: pipe `-o json` into jq instead.
        #[arg(short, long, default_value = "text", value_parser = list_format)]
        output: OutputFormat,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Delete bootstrap tokens on the server (by ID or whole token)
    Delete {
        #[arg(required = true, value_name = "TOKEN")]
        tokens: Vec<String>,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Generate and print a bootstrap token, but do not create it on the server
    Generate,
}

/// `token list -o`: text, json or yaml; a template format is named and refused with why.
fn list_format(value: &str) -> Result<OutputFormat, String> {
    if let Ok(format) = OutputFormat::from_str(value, true) {
        return Ok(format);
    }
    let kind = value.split('=').next().unwrap_or(value);
    if [
        "jsonpath",
        "jsonpath-file",
        "go-template",
        "go-template-file",
        "template",
        "templatefile",
    ]
    .contains(&kind)
    {
        return Err(format!(
            "{kind} output templates are not supported by kubestrap: use `-o json` and a JSON tool, e.g. `kubestrap token list -o json | jq -r '.[].token'`"
        ));
    }
    Err(format!(
        "`{value}` is not an output format: text, json or yaml"
    ))
}
