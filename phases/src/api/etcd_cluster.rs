//! An etcd cluster seen through its members' JSON gateways: the member list, each member's
//! health, adding and removing a member, and the quorum arithmetic that decides whether a
//! change is safe. The calls go through [`EtcdCalls`] so the decisions are tested without etcd.

use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::Method;
use crate::api::etcd_client::{ClientTls, EtcdClient, answer};

/// One member of `member/list` (etcd spells IDs as decimal strings in JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Member {
    #[serde(rename = "ID", default)]
    pub id: String,
    /// Empty until the member has started and joined.
    #[serde(default)]
    pub name: String,
    #[serde(rename = "peerURLs", default)]
    pub peer_urls: Vec<String>,
    #[serde(rename = "clientURLs", default)]
    pub client_urls: Vec<String>,
    /// A learner receives the log but does not vote: it cannot cost the others their quorum.
    #[serde(rename = "isLearner", default)]
    pub is_learner: bool,
}

impl Member {
    /// Whether the member has started: an added member has no name until it runs.
    pub fn started(&self) -> bool {
        !self.name.is_empty()
    }

    /// How to name it in a message: its name, else its peer URLs.
    pub fn describe(&self) -> String {
        if self.started() {
            format!("{} ({})", self.name, self.id)
        } else {
            format!(
                "{} at {} (added, never started)",
                self.id,
                self.peer_urls.join(",")
            )
        }
    }
}

/// What the decisions need from etcd; [`Gateway`] is the real one.
pub trait EtcdCalls {
    /// `member/list` through any reachable endpoint; also the ID of the member that answered.
    fn members(&self) -> Result<(Vec<Member>, String)>;
    /// Whether the member serving at this client URL answers `/health` with `true`.
    fn healthy(&self, client_url: &str) -> bool;
    /// `member/add` of a learner with this peer URL; the new member's ID and the members
    /// after the add.
    fn add_learner(&self, peer_url: &str) -> Result<(String, Vec<Member>)>;
    /// `member/promote`: the learner becomes a voting member (fails until it caught up).
    fn promote(&self, id: &str) -> Result<()>;
    /// `member/remove`.
    fn remove(&self, id: &str) -> Result<()>;
}

/// The JSON gateways of an etcd cluster, tried in order until one answers.
pub struct Gateway {
    pub endpoints: Vec<String>,
    pub tls: ClientTls,
    pub timeout: Duration,
}

impl Gateway {
    fn client(&self, endpoint: &str) -> Result<EtcdClient> {
        EtcdClient::new(endpoint, Some(&self.tls), self.timeout, self.timeout)
    }

    /// The answer of the first endpoint that answers `path` with 200.
    fn call(&self, path: &str, body: &Value) -> Result<Value> {
        let mut errors = Vec::new();
        for endpoint in &self.endpoints {
            match self
                .client(endpoint)
                .and_then(|c| answer(&c.post(path, body)?, path))
            {
                Ok(v) => return Ok(v),
                Err(e) => errors.push(format!("{endpoint}: {e:#}")),
            }
        }
        bail!("no etcd member answered {path}:\n  {}", errors.join("\n  "))
    }
}

fn members_of(v: &Value) -> Result<Vec<Member>> {
    serde_json::from_value(v.get("members").cloned().unwrap_or_else(|| json!([])))
        .context("etcd's member list has an unexpected shape")
}

impl EtcdCalls for Gateway {
    fn members(&self) -> Result<(Vec<Member>, String)> {
        let v = self.call("/v3/cluster/member/list", &json!({}))?;
        let me = v
            .pointer("/header/member_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        Ok((members_of(&v)?, me))
    }

    fn healthy(&self, client_url: &str) -> bool {
        let Ok(client) = self.client(client_url) else {
            return false;
        };
        client
            .send(Method::Get, "/health")
            .ok()
            .filter(|r| r.status == 200)
            .and_then(|r| serde_json::from_slice::<Value>(&r.body).ok())
            .is_some_and(|v| v["health"] == "true")
    }

    fn add_learner(&self, peer_url: &str) -> Result<(String, Vec<Member>)> {
        let v = self.call(
            "/v3/cluster/member/add",
            &json!({"peerURLs": [peer_url], "isLearner": true}),
        )?;
        let id = v
            .pointer("/member/ID")
            .and_then(Value::as_str)
            .context("etcd did not say which ID the new member got")?
            .to_string();
        Ok((id, members_of(&v)?))
    }

    fn promote(&self, id: &str) -> Result<()> {
        self.call("/v3/cluster/member/promote", &json!({"ID": id}))
            .map(|_| ())
    }

    fn remove(&self, id: &str) -> Result<()> {
        self.call("/v3/cluster/member/remove", &json!({"ID": id}))
            .map(|_| ())
    }
}

/// The members that do not answer `/health` (or have no client URL yet).
pub fn unhealthy<'a>(etcd: &dyn EtcdCalls, members: &'a [Member]) -> Vec<&'a Member> {
    members
        .iter()
        .filter(|m| {
            !m.started()
                || m.client_urls.is_empty()
                || !m.client_urls.iter().any(|u| etcd.healthy(u))
        })
        .collect()
}

/// Refuses a new member unless every member has started and is healthy: one more member that
/// never starts (or an unhealthy one) is what costs a small cluster its quorum.
pub fn check_safe_to_add(etcd: &dyn EtcdCalls, members: &[Member]) -> Result<()> {
    if let Some(pending) = members.iter().find(|m| !m.started()) {
        bail!(
            "the etcd cluster has a member that was added but never started: {}; adding another before it runs would leave the cluster one failure closer to losing its quorum\n\nhint: start that member (finish its join), or remove it on a control-plane node with `etcdctl member remove {}`",
            pending.describe(),
            pending.id
        );
    }
    let sick = unhealthy(etcd, members);
    if !sick.is_empty() {
        let names: Vec<String> = sick.iter().map(|m| m.describe()).collect();
        bail!(
            "the etcd cluster is not healthy: {} do not answer /health; a new member now could cost it its quorum\n\nhint: bring those members back (look at their etcd containers with `crictl ps -a --name etcd`), or remove dead ones with `etcdctl member remove <ID>`, then join again",
            names.join(", ")
        );
    }
    Ok(())
}

/// Whether removing `leaving` leaves the others a quorum: a majority of the voting members that
/// stay must be healthy (learners do not vote).
pub fn quorum_without(members: &[Member], leaving: &str, sick: &[&Member]) -> bool {
    let staying: Vec<&Member> = members
        .iter()
        .filter(|m| m.id != leaving && !m.is_learner)
        .collect();
    if staying.is_empty() {
        return true;
    }
    let healthy = staying
        .iter()
        .filter(|m| !sick.iter().any(|s| s.id == m.id))
        .count();
    healthy > staying.len() / 2
}

/// `--initial-cluster` of a joining member: every started member's peer URLs by name, and the
/// new member's under this node's name.
pub fn initial_cluster(members: &[Member], new_id: &str, node_name: &str) -> String {
    let mut parts = Vec::new();
    for m in members {
        let name = if m.id == new_id {
            node_name
        } else if m.started() {
            &m.name
        } else {
            continue;
        };
        for url in &m.peer_urls {
            parts.push(format!("{name}={url}"));
        }
    }
    parts.join(",")
}

/// A scripted etcd cluster for tests.
#[cfg(test)]
pub(crate) mod fake {
    use super::*;
    use std::cell::{Cell, RefCell};
    use std::collections::BTreeSet;

    /// Members, the client URLs that answer `/health`, and whether an added member starts.
    #[derive(Default)]
    pub struct FakeEtcd {
        pub members: RefCell<Vec<Member>>,
        pub up: RefCell<BTreeSet<String>>,
        /// An added member starts (and answers) at the next member list.
        pub new_members_start: Cell<bool>,
        /// This many removals are refused first, as etcd refuses them right after an add.
        pub refused_removals: Cell<usize>,
    }

    impl FakeEtcd {
        /// A cluster of started, healthy members `(id, name, ip)`.
        pub fn healthy(members: &[(&str, &str, &str)]) -> Self {
            let etcd = FakeEtcd::default();
            for (id, name, ip) in members {
                etcd.members.borrow_mut().push(member(id, name, ip));
                etcd.up.borrow_mut().insert(format!("https://{ip}:2379"));
            }
            etcd
        }
    }

    /// A started member, or (empty name) one added and never started.
    pub fn member(id: &str, name: &str, ip: &str) -> Member {
        Member {
            id: id.into(),
            name: name.into(),
            peer_urls: vec![format!("https://{ip}:2380")],
            client_urls: if name.is_empty() {
                vec![]
            } else {
                vec![format!("https://{ip}:2379")]
            },
            is_learner: false,
        }
    }

    impl EtcdCalls for FakeEtcd {
        fn members(&self) -> Result<(Vec<Member>, String)> {
            if self.new_members_start.get() {
                for m in self
                    .members
                    .borrow_mut()
                    .iter_mut()
                    .filter(|m| !m.started())
                {
                    m.name = format!("started-{}", m.id);
                    let url = m.peer_urls[0].replace(":2380", ":2379");
                    self.up.borrow_mut().insert(url.clone());
                    m.client_urls = vec![url];
                }
            }
            Ok((self.members.borrow().clone(), "1".into()))
        }
        fn healthy(&self, url: &str) -> bool {
            self.up.borrow().contains(url)
        }
        fn add_learner(&self, peer: &str) -> Result<(String, Vec<Member>)> {
            let id = format!("{}", 100 + self.members.borrow().len());
            self.members.borrow_mut().push(Member {
                id: id.clone(),
                peer_urls: vec![peer.into()],
                is_learner: true,
                ..Member::default()
            });
            Ok((id, self.members.borrow().clone()))
        }
        fn promote(&self, id: &str) -> Result<()> {
            for m in self.members.borrow_mut().iter_mut() {
                if m.id == id {
                    m.is_learner = false;
                }
            }
            Ok(())
        }
        fn remove(&self, id: &str) -> Result<()> {
            if self.refused_removals.get() > 0 {
                self.refused_removals.set(self.refused_removals.get() - 1);
                bail!("etcdserver: unhealthy cluster");
            }
            self.members.borrow_mut().retain(|m| m.id != id);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::{FakeEtcd, member};
    use super::*;

    #[test]
    fn a_new_member_needs_every_member_started_and_healthy() {
        let etcd = FakeEtcd::default();
        *etcd.members.borrow_mut() = vec![member("1", "n1", "10.0.0.1")];
        let members = etcd.members.borrow().clone();
        let err = check_safe_to_add(&etcd, &members).unwrap_err().to_string();
        assert!(err.contains("not healthy: n1 (1)"), "{err}");
        etcd.up.borrow_mut().insert("https://10.0.0.1:2379".into());
        check_safe_to_add(&etcd, &members).unwrap();
        let (id, after) = etcd.add_learner("https://10.0.0.2:2380").unwrap();
        let err = check_safe_to_add(&etcd, &after).unwrap_err().to_string();
        assert!(
            err.contains(&format!(
                "{id} at https://10.0.0.2:2380 (added, never started)"
            )),
            "{err}"
        );
        assert!(
            err.contains(&format!("etcdctl member remove {id}")),
            "{err}"
        );
    }

    #[test]
    fn the_initial_cluster_names_the_new_member_after_this_node() {
        let members = vec![
            member("1", "n1", "10.0.0.1"),
            member("7", "", "10.0.0.2"),
            member("9", "", "10.0.0.3"),
        ];
        assert_eq!(
            initial_cluster(&members, "7", "n2"),
            "n1=https://10.0.0.1:2380,n2=https://10.0.0.2:2380"
        );
    }

    #[test]
    fn removal_keeps_a_quorum_of_the_members_that_stay() {
        let two = vec![member("1", "n1", "a"), member("2", "n2", "b")];
        // 2 healthy → 1 of 1 stays.
        assert!(quorum_without(&two, "2", &[]));
        // The other one is down: the one that stays has no quorum.
        assert!(!quorum_without(&two, "2", &[&two[0]]));
        let three = vec![
            member("1", "n1", "a"),
            member("2", "n2", "b"),
            member("3", "n3", "c"),
        ];
        assert!(quorum_without(&three, "3", &[]));
        assert!(!quorum_without(&three, "3", &[&three[0]]));
        // The one leaving being unhealthy does not count against the others.
        assert!(quorum_without(&three, "3", &[&three[2]]));
        // A lone member leaves nothing behind to lose.
        assert!(quorum_without(&two[..1], "1", &[]));
    }
}
