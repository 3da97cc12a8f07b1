//! Every problem of a configuration file at once, as `config validate` shows them.

use std::path::Path;

use anyhow::Result;

use super::ApiVersion;
use super::load::{across_documents, parse, read_config};
use super::validate::validate;
use crate::version::{self, KubeVersion};

/// The phase names each kind's `skipPhases` may hold, for a Kubernetes version (the phase
/// tables are the workflows', a tier above).
pub type PhaseNames<'a> = &'a dyn Fn(&str, KubeVersion) -> Vec<String>;

/// Every problem of a config file (syntax, fields, values, phase names), empty when it is
/// valid, and the warnings about what it cannot be sure of.
pub fn validate_file(path: &Path, phases: PhaseNames<'_>) -> Result<(Vec<String>, Vec<String>)> {
    let text = read_config(path)?;
    Ok(validate_text(&text, &path.display().to_string(), phases))
}

/// [`validate_file`] of a file's text (`name`: the file, for the positions).
pub fn validate_text(text: &str, name: &str, phases: PhaseNames<'_>) -> (Vec<String>, Vec<String>) {
    // What could be read (a field with a problem is left out) is checked too: one run says all.
    let (docs, mut problems) = parse(text, name);
    let mut warnings = Vec::new();
    let mut found = if docs.has_init_kinds {
        validate(&docs.init, &docs.cluster)
    } else {
        Vec::new()
    };
    found.extend(across_documents(&docs));
    if let Some(join) = &docs.join {
        let v4 = docs.api_version == Some(ApiVersion::V1Beta4);
        found.extend(super::join::validate_join(join, v4));
    }
    if let Some(reset) = &docs.reset {
        // What `kubestrap reset --config` would refuse too.
        let refused = super::reset::unsupported_by_reset(reset);
        found.extend(
            (super::reset::validate_reset(reset)
                .into_iter()
                .chain(refused))
            .map(|(path, message)| super::Problem::new("ResetConfiguration", path, message)),
        );
    }
    let (upgrade_problems, upgrade_warnings) = super::upgrade::check_in_file(&docs, phases);
    found.extend(upgrade_problems);
    // Without a kubernetesVersion, init deploys the newest version (or the kubelet's).
    let version = docs
        .cluster
        .kubernetes_version
        .as_deref()
        .and_then(|v| KubeVersion::parse(v).ok())
        .unwrap_or(version::NEWEST);
    let skips = [
        (
            "InitConfiguration",
            docs.has_init_kinds.then_some(&docs.init.skip_phases),
        ),
        (
            "JoinConfiguration",
            docs.join.as_ref().map(|j| &j.skip_phases),
        ),
        (
            "ResetConfiguration",
            docs.reset.as_ref().map(|r| &r.skip_phases),
        ),
    ];
    for (kind, list) in skips {
        let Some(list) = list else { continue };
        let known = phases(kind, version);
        for (i, name) in list.iter().enumerate() {
            if !known.contains(name) {
                found.push(super::Problem::new(
                    kind,
                    format!("skipPhases[{i}]"),
                    format!(
                        "unknown phase `{name}`; valid phases are: {}",
                        known.join(", ")
                    ),
                ));
            }
        }
    }
    if docs.has_init_kinds {
        found.extend(super::flags::removed_flag_problems(
            &docs.init,
            &docs.cluster,
            version,
        ));
        let unknown = super::known_flags::unknown_flags(
            &docs.init,
            &docs.cluster,
            version,
            &super::known_flags::Allowed::from_env(),
        );
        found.extend(unknown.problems);
        warnings = unknown.warnings;
    }
    warnings.extend(upgrade_warnings);
    let source = docs.source.as_deref();
    let render = |list: Vec<super::Problem>| -> Vec<String> {
        list.iter().map(|p| p.render(source)).collect()
    };
    problems.extend(render(found));
    // In the file's order: `file:line:column: …`.
    problems.sort_by_key(|p| line_of(p));
    (problems, render(warnings))
}

/// The line a rendered problem points at (`name:12:3: …`); problems without one come first.
fn line_of(problem: &str) -> (usize, usize) {
    let mut n = problem
        .splitn(4, ':')
        .skip(1)
        .map(|n| n.parse().unwrap_or(0));
    (n.next().unwrap_or(0), n.next().unwrap_or(0))
}
