//! The workflows: each a phase table in kubeadm's order plus the glue that picks clients and data.

pub mod clients;
pub mod init;
pub mod join;
pub mod renewal;
pub mod reset;

/// The phase names a `skipPhases` list of a kind may hold (`InitConfiguration` for the
/// version deployed, `JoinConfiguration` for any cluster version, `ResetConfiguration`), for
/// `config validate` to refuse what the commands would.
pub fn phase_names(kind: &str, version: crate::version::KubeVersion) -> Vec<String> {
    let tables: Vec<&'static [crate::runner::Phase]> = match kind {
        "InitConfiguration" => vec![init::phases(version)],
        "JoinConfiguration" => join::tables(),
        "ResetConfiguration" => vec![reset::PHASES],
        _ => Vec::new(),
    };
    let mut names: Vec<String> = tables.into_iter().flat_map(crate::runner::paths).collect();
    names.sort();
    names.dedup();
    names
}
