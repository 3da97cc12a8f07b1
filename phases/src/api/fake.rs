//! A fake API server for tests: an in-memory object store answering GET, POST, PUT, merge PATCH,
//! DELETE and a pod's eviction like the real one (404, 409, resourceVersion), scripted failures for chosen
//! requests, and a log of every request to compare with golden files.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use anyhow::Result;
use serde_json::{Value, json};

use crate::api::{Method, Request, Response, Transport, Unreachable};

/// A scripted answer for one request.
#[derive(Debug, Clone)]
pub enum Scripted {
    /// This HTTP answer.
    Answer(Response),
    /// No answer: the connection was refused.
    Refused,
}

#[derive(Debug, Default)]
struct State {
    objects: BTreeMap<String, Value>,
    version: u64,
    log: Vec<String>,
    scripted: BTreeMap<String, VecDeque<Scripted>>,
}

/// The fake server; clones share the same state.
#[derive(Debug, Clone, Default)]
pub struct FakeApi {
    state: Arc<Mutex<State>>,
}

fn status(code: u16, message: &str) -> Response {
    Response::json(
        code,
        &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "code": code}),
    )
}

impl FakeApi {
    /// An empty cluster.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Stores an object at its path (as if created earlier).
    pub fn put(&self, path: &str, mut obj: Value) {
        let mut s = self.state();
        s.version += 1;
        obj["metadata"]["resourceVersion"] = json!(s.version.to_string());
        s.objects.insert(path.to_string(), obj);
    }

    /// The object stored at a path.
    pub fn object(&self, path: &str) -> Option<Value> {
        self.state().objects.get(path).cloned()
    }

    /// Every stored path.
    pub fn paths(&self) -> Vec<String> {
        self.state().objects.keys().cloned().collect()
    }

    /// Queues scripted answers for `METHOD path`, used before the store answers.
    pub fn script(&self, method: Method, path: &str, answers: Vec<Scripted>) {
        self.state()
            .scripted
            .entry(format!("{method} {path}"))
            .or_default()
            .extend(answers);
    }

    /// Every request so far, `METHOD path` (a POST also names the object it creates).
    pub fn log(&self) -> Vec<String> {
        self.state().log.clone()
    }

    /// Forgets the request log.
    pub fn clear_log(&self) {
        self.state().log.clear();
    }

    /// The request log without reads: what changed the cluster.
    pub fn writes(&self) -> Vec<String> {
        self.log()
            .into_iter()
            .filter(|l| !l.starts_with("GET "))
            .collect()
    }

    fn answer(&self, req: &Request) -> Response {
        let mut s = self.state();
        let body: Option<Value> = req
            .body
            .as_deref()
            .and_then(|b| serde_json::from_slice(b).ok());
        let path = req.path.split('?').next().unwrap_or_default().to_string();
        match req.method {
            Method::Get => {
                if let Some(obj) = s.objects.get(&path) {
                    return Response::json(200, obj);
                }
                if ["/healthz", "/livez", "/readyz"].contains(&path.as_str()) {
                    return Response {
                        status: 200,
                        body: b"ok".to_vec(),
                    };
                }
                // A collection: every object directly under it.
                let prefix = format!("{path}/");
                let items: Vec<Value> = s
                    .objects
                    .iter()
                    .filter(|(p, _)| {
                        p.strip_prefix(&prefix)
                            .is_some_and(|rest| !rest.contains('/'))
                    })
                    .map(|(_, v)| v.clone())
                    .collect();
                if items.is_empty() && !is_collection(&path) {
                    return status(404, &format!("{path} not found"));
                }
                Response::json(200, &json!({"kind": "List", "items": items}))
            }
            // An allowed eviction deletes its pod, as the real server does.
            Method::Post if path.ends_with("/eviction") => {
                let pod = path.trim_end_matches("/eviction");
                match s.objects.remove(pod) {
                    Some(_) => Response::json(201, &json!({"kind": "Status", "status": "Success"})),
                    None => status(404, &format!("{pod} not found")),
                }
            }
            Method::Post => {
                let Some(mut obj) = body else {
                    return status(400, "no body");
                };
                let name = obj
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let key = format!("{path}/{name}");
                if s.objects.contains_key(&key) {
                    // As the real server: a taken clusterIP is found before the taken name.
                    if obj
                        .pointer("/spec/clusterIP")
                        .is_some_and(|ip| ip.is_string())
                    {
                        return status(422, "spec.clusterIPs: provided IP is already allocated");
                    }
                    return status(409, &format!("{name} already exists"));
                }
                s.version += 1;
                obj["metadata"]["resourceVersion"] = json!(s.version.to_string());
                // As the real server: every object gets its uid when created.
                if obj.pointer("/metadata/uid").is_none() {
                    obj["metadata"]["uid"] = json!(format!("uid-{}", s.version));
                }
                s.objects.insert(key, obj.clone());
                Response::json(201, &obj)
            }
            Method::Put => {
                let Some(mut obj) = body else {
                    return status(400, "no body");
                };
                let Some(old) = s.objects.get(&path) else {
                    return status(404, &format!("{path} not found"));
                };
                if obj.pointer("/metadata/resourceVersion")
                    != old.pointer("/metadata/resourceVersion")
                {
                    return status(409, "the object has been modified");
                }
                s.version += 1;
                obj["metadata"]["resourceVersion"] = json!(s.version.to_string());
                s.objects.insert(path, obj.clone());
                Response::json(200, &obj)
            }
            Method::Patch => {
                let Some(patch) = body else {
                    return status(400, "no body");
                };
                let Some(old) = s.objects.get(&path).cloned() else {
                    return status(404, &format!("{path} not found"));
                };
                if let Some(rv) = patch.pointer("/metadata/resourceVersion")
                    && Some(rv) != old.pointer("/metadata/resourceVersion")
                {
                    return status(409, "the object has been modified");
                }
                let mut obj = old;
                merge(&mut obj, &patch);
                drop_empty_metadata_maps(&mut obj);
                s.version += 1;
                obj["metadata"]["resourceVersion"] = json!(s.version.to_string());
                s.objects.insert(path, obj.clone());
                Response::json(200, &obj)
            }
            Method::Delete => match s.objects.remove(&path) {
                Some(_) => Response::json(200, &json!({"kind": "Status", "status": "Success"})),
                None => status(404, &format!("{path} not found")),
            },
        }
    }
}

/// `/api/v1[/namespaces/NS]/RESOURCE` or `/apis/GROUP/VERSION[/namespaces/NS]/RESOURCE`: the
/// parity of the segment count tells a collection from an object (whose name may end in `s`).
fn is_collection(path: &str) -> bool {
    let segments = path.split('/').filter(|s| !s.is_empty()).count();
    let last = path.rsplit('/').next().unwrap_or_default();
    let parity = if path.starts_with("/apis/") { 0 } else { 1 };
    last.ends_with('s') && !path.contains(':') && segments % 2 == parity
}

/// Labels or annotations a patch emptied are left out, as the API server (which does not
/// write an empty map) serves the object.
fn drop_empty_metadata_maps(obj: &mut Value) {
    if let Some(meta) = obj["metadata"].as_object_mut() {
        for key in ["labels", "annotations"] {
            if meta
                .get(key)
                .and_then(Value::as_object)
                .is_some_and(|m| m.is_empty())
            {
                meta.remove(key);
            }
        }
    }
}

/// RFC 7386 merge patch.
fn merge(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            if let Value::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

impl Transport for FakeApi {
    fn send(&self, req: &Request) -> Result<Response> {
        let key = format!("{} {}", req.method, req.path);
        let name = req
            .body
            .as_deref()
            .and_then(|b| serde_json::from_slice::<Value>(b).ok())
            .and_then(|v| v.pointer("/metadata/name")?.as_str().map(str::to_string));
        let scripted = {
            let mut s = self.state();
            s.log.push(match (&name, req.method) {
                (Some(n), Method::Post) => format!("{key} {n}"),
                _ => key.clone(),
            });
            s.scripted.get_mut(&key).and_then(VecDeque::pop_front)
        };
        match scripted {
            Some(Scripted::Answer(resp)) => Ok(resp),
            Some(Scripted::Refused) => {
                Err(Unreachable("connection refused (scripted)".into()).into())
            }
            None => Ok(self.answer(req)),
        }
    }

    fn endpoint(&self) -> String {
        "https://fake-apiserver:6443".into()
    }
}
