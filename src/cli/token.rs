//! The flags of `kubestrap token`.

use clap::Subcommand;

use super::{ClusterArgs, OutputFormat};

#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Create a bootstrap token on the server
    Create {
        /// The token to create (generated when absent).
        token: Option<String>,
        /// The duration before the token is automatically deleted (e.g. 1s, 2m, 3h); 0 never expires.
        #[arg(long, default_value = "24h0m0s", value_name = "DURATION")]
        ttl: String,
        /// A human friendly description of how this token is used.
        #[arg(long, value_name = "TEXT")]
        description: Option<String>,
        /// Describes the ways in which this token can be used.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "signing,authentication",
            value_name = "USAGES"
        )]
        usages: Vec<String>,
        /// Extra groups that this token will authenticate as when used for authentication.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "system:bootstrappers:kubeadm:default-node-token",
            value_name = "GROUPS"
        )]
        groups: Vec<String>,
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
        /// Output format.
        #[arg(short, long, value_enum, default_value_t)]
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
