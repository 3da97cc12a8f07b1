//! Talking to the Kubernetes API server.
//!
//! A [`Transport`] sends one [`Request`] and returns the [`Response`]; it knows nothing about
//! retries or objects. [`Api`] sits on top: typed calls (`get`, `create_or_update`, `patch`,
//! `delete`), retries with backoff on refused connections, 5xx and 429, and errors that name the
//! object and the endpoint. Implementations: [`http`] (reqwest over rustls),
//! [`DryRun`] (logs mutating requests), and the scripted fake in `fake` (feature `testing`).

pub mod client;
pub mod cluster_config;
mod dry_run;
pub mod etcd_client;
pub mod etcd_cluster;
pub mod etcd_snapshot;
#[cfg(any(test, feature = "testing"))]
pub mod fake;
pub mod http;
pub mod kubeconfig;
pub mod manifests;
pub mod node;
pub mod objects;
mod transport;

pub use dry_run::DryRun;
pub use transport::{
    JSON, MERGE_PATCH, Method, Request, Response, STRATEGIC_MERGE_PATCH, Transport, Unreachable,
};

use std::fmt;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use serde::de::DeserializeOwned;

use crate::host::interrupt::Interrupt;
use serde_json::{Value, json};

/// How long and how often to retry a request the server could not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Give up after this long (kubeadm's `timeouts.kubernetesAPICall`).
    pub timeout: Duration,
    /// First pause; doubled after each failure up to `max_delay`.
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// What sets `timeout`, named when the server does not answer: `--timeout`, or
    /// `timeouts.kubernetesAPICall` of the configuration.
    pub set_by: &'static str,
}

/// `Retry::set_by` of the commands that read a kubeadm configuration.
pub const SET_BY_CONFIG: &str = "timeouts.kubernetesAPICall in the --config file (v1beta4)";
/// `Retry::set_by` of the commands without one.
pub const SET_BY_FLAG: &str = "--timeout";

impl Default for Retry {
    fn default() -> Self {
        Retry {
            timeout: Duration::from_secs(60),
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            set_by: SET_BY_CONFIG,
        }
    }
}

impl Retry {
    /// Waits up to `timeout`, which `--timeout` set.
    pub fn by_flag(timeout: Duration) -> Self {
        Retry {
            timeout,
            set_by: SET_BY_FLAG,
            ..Retry::default()
        }
    }
}

impl Retry {
    /// Retries without pausing, a bounded number of times: for scripted transports in tests.
    pub fn immediate() -> Self {
        Retry {
            timeout: Duration::ZERO,
            first_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
            set_by: SET_BY_CONFIG,
        }
    }
}

/// Where API calls tell the user what they do (retries, dry-run requests), and wait between
/// retries. The runner's reporters provide it, so this module needs no phase machinery.
pub trait Log: Sync {
    /// A status line: `[tag] msg`.
    fn status(&self, tag: &str, msg: &str);
    /// Extra detail shown with `-v` only.
    fn detail(&self, msg: &str);
    /// Waits before a retry, or stops when the run is interrupted (SIGINT, SIGTERM).
    fn pause(&self, pause: Duration) -> Result<()> {
        Ok(Interrupt::process().pause(pause)?)
    }
}

/// A transport plus the retry policy: what `ctx.api()` hands out.
pub struct Client {
    transport: Box<dyn Transport>,
    retry: Retry,
    dry_run: bool,
}

impl Client {
    /// A client over a transport.
    pub fn new(transport: Box<dyn Transport>, retry: Retry) -> Self {
        Client {
            transport,
            retry,
            dry_run: false,
        }
    }

    /// A client that reports each mutating request as `[dryrun] would …` before sending it to
    /// the [`DryRun`] transport.
    pub fn dry_run(transport: DryRun) -> Self {
        Client {
            transport: Box::new(transport),
            retry: Retry::immediate(),
            dry_run: true,
        }
    }

    /// The server URL.
    pub fn endpoint(&self) -> String {
        self.transport.endpoint()
    }

    /// Typed calls that report through `out`.
    pub fn with<'a>(&'a self, out: &'a dyn Log) -> Api<'a> {
        Api { client: self, out }
    }
}

/// What a create-or-update did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Created,
    Updated,
    Unchanged,
}

/// Where an object lives in the API: its collection path and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    /// `/api/v1/namespaces/kube-system/configmaps`.
    pub collection: String,
}

impl ObjectRef {
    /// The path of a kind's collection for a Kubernetes object of the kinds kubestrap writes.
    pub fn new(api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> Result<Self> {
        let (plural, namespaced) = match kind {
            "ConfigMap" => ("configmaps", true),
            "Secret" => ("secrets", true),
            "ServiceAccount" => ("serviceaccounts", true),
            "Service" => ("services", true),
            "Role" => ("roles", true),
            "RoleBinding" => ("rolebindings", true),
            "DaemonSet" => ("daemonsets", true),
            "Deployment" => ("deployments", true),
            "Pod" => ("pods", true),
            "ClusterRole" => ("clusterroles", false),
            "ClusterRoleBinding" => ("clusterrolebindings", false),
            "Node" => ("nodes", false),
            "Namespace" => ("namespaces", false),
            other => bail!("kubestrap does not know the API resource of kind `{other}`"),
        };
        let group = if api_version.contains('/') {
            format!("/apis/{api_version}")
        } else {
            format!("/api/{api_version}")
        };
        let collection = match (namespaced, namespace) {
            (true, Some(ns)) => format!("{group}/namespaces/{ns}/{plural}"),
            (true, None) => bail!("{kind} `{name}` needs a namespace"),
            (false, _) => format!("{group}/{plural}"),
        };
        Ok(ObjectRef {
            kind: kind.to_string(),
            namespace: if namespaced {
                namespace.map(str::to_string)
            } else {
                None
            },
            name: name.to_string(),
            collection,
        })
    }

    /// The reference of a JSON object (its apiVersion, kind, metadata.namespace and name).
    pub fn of(obj: &Value) -> Result<Self> {
        let s = |p: &str| obj.pointer(p).and_then(Value::as_str);
        let (Some(api_version), Some(kind), Some(name)) =
            (s("/apiVersion"), s("/kind"), s("/metadata/name"))
        else {
            bail!("object without apiVersion, kind or metadata.name: {obj}");
        };
        Self::new(api_version, kind, s("/metadata/namespace"), name)
    }

    /// The object's own path.
    pub fn path(&self) -> String {
        format!("{}/{}", self.collection, self.name)
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} `{ns}/{}`", self.kind, self.name),
            None => write!(f, "{} `{}`", self.kind, self.name),
        }
    }
}

/// Typed API calls over a [`Client`].
pub struct Api<'a> {
    client: &'a Client,
    out: &'a dyn Log,
}

impl Api<'_> {
    /// The server URL.
    pub fn endpoint(&self) -> String {
        self.client.endpoint()
    }

    /// Sends a request, retrying while the server is unreachable, failing (5xx) or throttling (429).
    pub fn send(&self, req: &Request) -> Result<Response> {
        let retry = self.client.retry;
        let started = Instant::now();
        let mut delay = retry.first_delay;
        let mut attempts = 0u32;
        if self.client.dry_run && req.method.mutates() {
            let name = req
                .body
                .as_deref()
                .and_then(|b| serde_json::from_slice::<Value>(b).ok())
                .and_then(|v| {
                    let kind = v.get("kind")?.as_str()?.to_string();
                    Some(format!(
                        " ({kind} {})",
                        v.pointer("/metadata/name")?.as_str()?
                    ))
                })
                .unwrap_or_default();
            self.out.status(
                "dryrun",
                &format!("would {} {}{name}", req.method, req.path),
            );
            if let Some(body) = &req.body {
                self.out.detail(&String::from_utf8_lossy(body));
            }
        }
        loop {
            attempts += 1;
            let outcome = self.client.transport.send(req);
            let transient = match &outcome {
                Ok(resp) => resp.status >= 500 || resp.status == 429,
                Err(e) => e.downcast_ref::<Unreachable>().is_some(),
            };
            // Without a timeout (scripted transports), a few immediate attempts.
            let out_of_time = if retry.timeout.is_zero() {
                attempts >= 3
            } else {
                started.elapsed() + delay > retry.timeout
            };
            if !transient {
                return outcome;
            }
            if out_of_time {
                // One shape for every command: who did not answer, for how long, and what
                // sets the limit.
                let limit = retry.timeout;
                let endpoint = self.client.transport.endpoint();
                let set_by = retry.set_by;
                return outcome.map_err(|e| {
                    e.context(format!(
                        "the API server at {endpoint} did not answer within {} ({attempts} tries; {set_by} sets the limit)",
                        crate::config::duration::format(limit)
                    ))
                });
            }
            let why = match &outcome {
                Ok(resp) => format!("{} {}", resp.status, resp.message()),
                Err(e) => format!("{e:#}"),
            };
            if attempts == 1 && !retry.timeout.is_zero() {
                // Said once, so a wait is never silent; each retry is detail.
                self.out.status(
                    "api",
                    &format!(
                        "the API server at {} does not answer yet ({}); trying again for up to {} ({})",
                        self.client.transport.endpoint(),
                        first_line(&why),
                        crate::config::duration::format(retry.timeout),
                        retry.set_by
                    ),
                );
            }
            self.out.detail(&format!(
                "{} {}: {why}; retrying in {delay:?}",
                req.method, req.path
            ));
            self.out.pause(delay)?;
            delay = (delay * 2).min(retry.max_delay).max(retry.first_delay);
        }
    }

    /// Sends a request once and returns the answer as it is, 429 included: for a caller with a
    /// policy of its own (a drain retries an eviction a PodDisruptionBudget refuses for as long
    /// as it allows, then names the budget).
    pub fn send_once(&self, req: &Request) -> Result<Response> {
        self.client.transport.send(req)
    }

    fn fail(&self, what: &str, target: &dyn fmt::Display, resp: &Response) -> anyhow::Error {
        let hint = match resp.status {
            401 => {
                "\n\nhint: the client certificate of the kubeconfig is not accepted; check that it was signed by the cluster CA"
            }
            403 => {
                "\n\nhint: the identity in the kubeconfig lacks the permission; use the admin kubeconfig"
            }
            _ => "",
        };
        anyhow!(
            "failed to {what} {target} at {}: {} {}{hint}",
            self.endpoint(),
            resp.status,
            resp.message()
        )
    }

    fn send_for(&self, req: &Request, what: &str, target: &dyn fmt::Display) -> Result<Response> {
        self.send(req)
            .with_context(|| format!("failed to {what} {target} at {}", self.endpoint()))
    }

    /// GETs a path; `None` when it does not exist.
    pub fn get_value(&self, path: &str, target: &dyn fmt::Display) -> Result<Option<Value>> {
        let resp = self.send_for(&Request::new(Method::Get, path), "read", target)?;
        match resp.status {
            404 => Ok(None),
            _ if resp.is_success() => serde_json::from_slice(&resp.body)
                .map(Some)
                .with_context(|| format!("{target} at {} is not valid JSON", self.endpoint())),
            _ => Err(self.fail("read", target, &resp)),
        }
    }

    /// GETs an object and decodes it into `T`; `None` when it does not exist.
    pub fn get<T: DeserializeOwned>(&self, obj: &ObjectRef) -> Result<Option<T>> {
        match self.get_value(&obj.path(), obj)? {
            None => Ok(None),
            Some(v) => serde_json::from_value(v)
                .map(Some)
                .with_context(|| format!("unexpected shape of {obj} at {}", self.endpoint())),
        }
    }

    /// Lists a collection (with an optional `?…` query) and returns its `items`.
    pub fn list<T: DeserializeOwned>(&self, collection: &str, what: &str) -> Result<Vec<T>> {
        let v = self
            .get_value(collection, &format!("`{what}`"))?
            .unwrap_or_else(|| json!({"items": []}));
        let items = v.get("items").cloned().unwrap_or_else(|| json!([]));
        let items: Vec<T> = match items {
            Value::Null => Vec::new(),
            items => serde_json::from_value(items)
                .with_context(|| format!("unexpected shape of {what} at {}", self.endpoint()))?,
        };
        Ok(items)
    }

    /// Creates an object; fails when it already exists.
    pub fn create(&self, obj: &Value) -> Result<()> {
        let target = ObjectRef::of(obj)?;
        let req = Request::new(Method::Post, &target.collection).with_json(JSON, obj);
        let resp = self.send_for(&req, "create", &target)?;
        if resp.is_success() {
            return Ok(());
        }
        if resp.status == 409 {
            bail!("{target} already exists at {}", self.endpoint());
        }
        Err(self.fail("create", &target, &resp))
    }

    /// Creates an object, or updates it when it exists and differs (kubeadm's create-or-update):
    /// POST; on 409 GET, and PUT only when a field we set has another value.
    pub fn create_or_update(&self, obj: &Value) -> Result<Applied> {
        let target = ObjectRef::of(obj)?;
        let req = Request::new(Method::Post, &target.collection).with_json(JSON, obj);
        let resp = self.send_for(&req, "create", &target)?;
        if resp.is_success() {
            return Ok(Applied::Created);
        }
        // A Service with a fixed clusterIP that exists is refused as invalid (the IP is taken)
        // before the name is checked: like kubeadm, look whether it is ours.
        let maybe_exists = resp.status == 409 || (target.kind == "Service" && resp.status == 422);
        if !maybe_exists {
            return Err(self.fail("create", &target, &resp));
        }
        let Some(existing) = self.get_value(&target.path(), &target)? else {
            return Err(self.fail("create", &target, &resp));
        };
        if contains(&existing, obj) {
            return Ok(Applied::Unchanged);
        }
        let mut desired = obj.clone();
        if let Some(rv) = existing.pointer("/metadata/resourceVersion") {
            desired["metadata"]["resourceVersion"] = rv.clone();
        }
        // A Service keeps its allocated clusterIP unless we set one.
        if target.kind == "Service"
            && desired.pointer("/spec/clusterIP").is_none()
            && let Some(ip) = existing.pointer("/spec/clusterIP")
        {
            desired["spec"]["clusterIP"] = ip.clone();
        }
        let req = Request::new(Method::Put, target.path()).with_json(JSON, &desired);
        let resp = self.send_for(&req, "update", &target)?;
        if resp.is_success() {
            Ok(Applied::Updated)
        } else {
            Err(self.fail("update", &target, &resp))
        }
    }

    /// Creates or updates objects that do not depend on each other: all at once when the transport
    /// allows it (each write waits on etcd, so together they take about as long as one), else in
    /// order. Results follow `objs`; the first failure in that order is returned.
    pub fn create_or_update_all(&self, objs: &[Value]) -> Result<Vec<Applied>> {
        if objs.len() < 2 || !self.client.transport.concurrent() {
            return objs.iter().map(|o| self.create_or_update(o)).collect();
        }
        std::thread::scope(|s| {
            let running: Vec<_> = objs
                .iter()
                .map(|o| s.spawn(move || self.create_or_update(o)))
                .collect();
            running
                .into_iter()
                .map(|t| {
                    t.join()
                        .unwrap_or_else(|_| Err(anyhow!("an API request panicked")))
                })
                .collect()
        })
    }

    /// Applies a patch of the given content type to an object; returns the patched object.
    pub fn patch(
        &self,
        target: &ObjectRef,
        content_type: &'static str,
        patch: &Value,
    ) -> Result<Value> {
        let req = Request::new(Method::Patch, target.path()).with_json(content_type, patch);
        let resp = self.send_for(&req, "patch", target)?;
        if !resp.is_success() {
            return Err(self.fail("patch", target, &resp));
        }
        Ok(serde_json::from_slice(&resp.body).unwrap_or(Value::Null))
    }

    /// Deletes an object; returns whether it existed.
    pub fn delete(&self, target: &ObjectRef) -> Result<bool> {
        let resp = self.send_for(
            &Request::new(Method::Delete, target.path()),
            "delete",
            target,
        )?;
        match resp.status {
            404 => Ok(false),
            _ if resp.is_success() => Ok(true),
            _ => Err(self.fail("delete", target, &resp)),
        }
    }

    /// GETs a health path (`/healthz`, `/livez`, `/readyz`) once, without retries: `Ok(true)` on 200.
    pub fn healthy(&self, path: &str) -> Result<bool> {
        let resp = self
            .client
            .transport
            .send(&Request::new(Method::Get, path))?;
        Ok(resp.status == 200 && resp.text().trim() == "ok")
    }
}

/// Whether every field set in `want` has the same value in `have` (objects recursively, lists
/// element by element): what the server added (defaults, status, metadata) does not count.
pub fn contains(have: &Value, want: &Value) -> bool {
    match (have, want) {
        (Value::Object(h), Value::Object(w)) => w.iter().all(|(k, wv)| match h.get(k) {
            Some(hv) => contains(hv, wv),
            // An empty value we set is the same as one the server omitted.
            None => is_empty(wv),
        }),
        (Value::Array(h), Value::Array(w)) => {
            h.len() == w.len() && h.iter().zip(w).all(|(hv, wv)| contains(hv, wv))
        }
        _ => have == want || (is_empty(have) && is_empty(want)),
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(_) => false,
    }
}

/// The last cause of a `: `-joined error chain: what actually happened (refused, timed out, …).
fn first_line(why: &str) -> &str {
    why.rsplit(": ")
        .next()
        .unwrap_or(why)
        .lines()
        .next()
        .unwrap_or(why)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn paths_of_objects() {
        let cm = ObjectRef::new("v1", "ConfigMap", Some("kube-system"), "kubeadm-config").unwrap();
        assert_eq!(
            cm.path(),
            "/api/v1/namespaces/kube-system/configmaps/kubeadm-config"
        );
        let crb = ObjectRef::new(
            "rbac.authorization.k8s.io/v1",
            "ClusterRoleBinding",
            None,
            "kubeadm:get-nodes",
        )
        .unwrap();
        assert_eq!(
            crb.path(),
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/kubeadm:get-nodes"
        );
        assert_eq!(crb.to_string(), "ClusterRoleBinding `kubeadm:get-nodes`");
        assert!(ObjectRef::new("v1", "Secret", None, "x").is_err());
    }

    #[test]
    fn contains_ignores_what_the_server_adds() {
        let want = json!({"metadata": {"name": "a", "labels": {}}, "data": {"k": "v"}, "list": [{"a": 1}]});
        let have = json!({"metadata": {"name": "a", "uid": "u"}, "data": {"k": "v"}, "list": [{"a": 1, "b": 2}]});
        assert!(contains(&have, &want));
        let changed = json!({"metadata": {"name": "a"}, "data": {"k": "w"}, "list": [{"a": 1}]});
        assert!(!contains(&changed, &want));
        let longer =
            json!({"metadata": {"name": "a"}, "data": {"k": "v"}, "list": [{"a": 1}, {"a": 2}]});
        assert!(!contains(&longer, &want));
    }

    /// Counts the requests in flight at once (and the most seen), and holds each until 4 were
    /// (at most 10 s), so the count does not depend on how fast the threads start on a busy
    /// machine; a ConfigMap named `bad` is refused.
    struct Slow(std::sync::Arc<(Mutex<(usize, usize)>, std::sync::Condvar)>);

    impl Transport for Slow {
        fn send(&self, req: &Request) -> Result<Response> {
            let (counts, changed) = &*self.0;
            let mut n = counts.lock().unwrap();
            n.0 += 1;
            n.1 = n.1.max(n.0);
            changed.notify_all();
            let (mut n, _) = changed
                .wait_timeout_while(n, Duration::from_secs(10), |n| n.1 < 4)
                .unwrap();
            n.0 -= 1;
            drop(n);
            let body: Value = serde_json::from_slice(req.body.as_deref().unwrap_or(b"{}"))?;
            if body.pointer("/metadata/name") == Some(&json!("bad")) {
                return Ok(Response::json(422, &json!({"message": "bad name"})));
            }
            Ok(Response::json(201, &body))
        }
        fn endpoint(&self) -> String {
            "https://127.0.0.1:6443".into()
        }
        fn concurrent(&self) -> bool {
            true
        }
    }

    /// A server that never answers.
    struct Silent;

    impl Transport for Silent {
        fn send(&self, _: &Request) -> Result<Response> {
            Err(transport::Unreachable(
                "error sending request: client error (Connect): connection refused".into(),
            )
            .into())
        }
        fn endpoint(&self) -> String {
            "https://127.0.0.1:6443".into()
        }
        fn concurrent(&self) -> bool {
            false
        }
    }

    #[test]
    fn a_server_that_does_not_answer_is_named_once_while_retrying_then_in_the_error() {
        let retry = Retry {
            timeout: Duration::from_millis(300),
            first_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(40),
            set_by: SET_BY_FLAG,
        };
        let client = Client::new(Box::new(Silent), retry);
        let out = crate::runner::report::RecordingReporter::default();
        let api = client.with(&out);
        let cm = ObjectRef::new("v1", "ConfigMap", Some("kube-system"), "x").unwrap();
        let err = format!("{:#}", api.get::<Value>(&cm).unwrap_err());
        assert!(err.contains("connection refused"), "{err}");
        assert!(
            err.contains("the API server at https://127.0.0.1:6443 did not answer within 300ms (")
                && err.contains("tries; --timeout sets the limit)"),
            "{err}"
        );
        let said: Vec<String> = out
            .lines()
            .into_iter()
            .filter(|l| l.starts_with("[api]"))
            .collect();
        assert_eq!(
            said,
            [
                "[api] the API server at https://127.0.0.1:6443 does not answer yet (connection refused); trying again for up to 300ms (--timeout)"
            ]
        );
    }

    fn config_map(name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}})
    }

    #[test]
    fn independent_objects_are_sent_together_and_reported_in_order() {
        let counts = std::sync::Arc::new((Mutex::new((0, 0)), std::sync::Condvar::new()));
        let client = Client::new(Box::new(Slow(counts.clone())), Retry::immediate());
        let out = crate::runner::report::RecordingReporter::default();
        let api = client.with(&out);
        let objs: Vec<Value> = ["a", "b", "c", "d"].map(config_map).into();
        let applied = api.create_or_update_all(&objs).unwrap();
        assert_eq!(applied, [Applied::Created; 4]);
        assert_eq!(counts.0.lock().unwrap().1, 4);

        let objs: Vec<Value> = ["a", "bad", "c"].map(config_map).into();
        let err = api.create_or_update_all(&objs).unwrap_err().to_string();
        assert!(
            err.contains("ConfigMap `default/bad`") && err.contains("bad name"),
            "{err}"
        );
    }
}
