//! Which host does what, in which order: from the file's roles and each host's facts. The
//! first control-plane host starts the cluster (or is found to have it); the other control-plane
//! hosts join one at a time, then the workers all at once. A host already in the cluster as the
//! file says is left alone; one in another cluster (another CA) is refused and left alone; one
//! with the remains of a half-done join is reset and joined again.

use super::agent::Facts;
use super::file::Role;

/// What one host is to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start the cluster here (a half-done init resumes).
    Init,
    /// Join the cluster, after `kubestrap reset` of what a half-done join left when `reset_first`.
    Join { reset_first: bool },
    /// In the cluster already, as the file says.
    Nothing,
    /// Left alone, for this reason.
    Refuse(String),
}

/// The plan of a whole apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// One action per host, in the file's order.
    pub actions: Vec<Action>,
    /// The control-plane host that has (or will have) the cluster: where tokens are made and the
    /// Nodes are read.
    pub first: usize,
    /// The CA pin of the existing cluster (`None` before init).
    pub cluster_ca: Option<String>,
}

impl Plan {
    /// The host that starts the cluster, if it is not there yet.
    pub fn init(&self) -> Option<usize> {
        (self.actions.get(self.first) == Some(&Action::Init)).then_some(self.first)
    }

    /// The joins of `role`, in the file's order.
    pub fn joins(&self, roles: &[Role], role: Role) -> Vec<usize> {
        self.actions
            .iter()
            .enumerate()
            .filter(|(i, a)| matches!(a, Action::Join { .. }) && roles[*i] == role)
            .map(|(i, _)| i)
            .collect()
    }
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(7 + 12)]
}

/// The plan for hosts with these roles (at least one control plane) and facts.
pub fn plan(roles: &[Role], facts: &[Facts]) -> Plan {
    let first_cp = roles
        .iter()
        .position(|r| *r == Role::ControlPlane)
        .unwrap_or(0);
    // The cluster is where a control-plane host has its admin.conf and CA; the first such
    // control plane in the file's order.
    let existing = roles
        .iter()
        .zip(facts)
        .position(|(r, f)| *r == Role::ControlPlane && f.admin_conf && f.ca_hash.is_some());
    let first = existing.unwrap_or(first_cp);
    let cluster_ca = existing.and_then(|i| facts[i].ca_hash.clone());
    let mut actions = Vec::with_capacity(roles.len());
    for (i, (role, f)) in roles.iter().zip(facts).enumerate() {
        let action = match &cluster_ca {
            None if i == first => {
                if f.kubelet_conf && f.ca_hash.is_some() && !f.control_plane {
                    Action::Refuse(format!(
                        "already a node of another cluster (CA {}); it cannot start this one: `kubestrap reset` it first if it is to",
                        short(f.ca_hash.as_deref().unwrap_or_default())
                    ))
                } else {
                    Action::Init
                }
            }
            None => match &f.ca_hash {
                Some(ca) if f.kubelet_conf => Action::Refuse(format!(
                    "already a node of another cluster (CA {}): left alone; `kubestrap reset` it first if it is to join this one",
                    short(ca)
                )),
                _ => Action::Join {
                    reset_first: f.kube_files,
                },
            },
            Some(_) if i == first => Action::Nothing,
            Some(cluster) => match &f.ca_hash {
                Some(ca) if ca != cluster => Action::Refuse(format!(
                    "already a node of another cluster (CA {}, this cluster's is {}): left alone; `kubestrap reset` it first if it is to join this one",
                    short(ca),
                    short(cluster)
                )),
                Some(_) if f.kubelet_conf && !f.bootstrap_conf => {
                    let is_cp = f.control_plane;
                    match (role, is_cp) {
                        (Role::ControlPlane, false) => Action::Refuse(
                            "a worker of this cluster, but the file says control-plane: `kubestrap reset` it, then apply again".into(),
                        ),
                        (Role::Worker, true) => Action::Refuse(
                            "a control plane of this cluster, but the file says worker: `kubestrap reset` it, then apply again".into(),
                        ),
                        _ => Action::Nothing,
                    }
                }
                _ => Action::Join {
                    reset_first: f.kube_files,
                },
            },
        };
        actions.push(action);
    }
    Plan {
        actions,
        first,
        cluster_ca,
    }
}

#[cfg(test)]
mod tests;
