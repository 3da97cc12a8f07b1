//! The transport of `--dry-run`: what would change the cluster is logged and answered as if it
//! succeeded.

use std::sync::Mutex;

use anyhow::Result;
use serde_json::json;

use super::{Request, Response, Transport};

/// A transport for `--dry-run`: mutating requests are logged and answered as if they succeeded,
/// reads find nothing except the node being set up (or, [`DryRun::reading`], go to the real
/// cluster: a dry run of a command on a running cluster sees what it would change).
pub struct DryRun {
    endpoint: String,
    node: String,
    log: Mutex<Vec<String>>,
    reads: Option<Box<dyn Transport>>,
}

impl std::fmt::Debug for DryRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DryRun")
            .field("endpoint", &self.endpoint)
            .field("reads", &self.reads.is_some())
            .finish()
    }
}

impl DryRun {
    /// A dry-run transport; GETs of Node `node` return a minimal Node.
    pub fn new(endpoint: impl Into<String>, node: impl Into<String>) -> Self {
        DryRun {
            endpoint: endpoint.into(),
            node: node.into(),
            log: Mutex::default(),
            reads: None,
        }
    }

    /// A dry-run transport whose reads go to `reads` (the running cluster).
    pub fn reading(reads: Box<dyn Transport>) -> Self {
        DryRun {
            endpoint: reads.endpoint(),
            node: String::new(),
            log: Mutex::default(),
            reads: Some(reads),
        }
    }

    /// The requests that would have changed the cluster, one line each.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl Transport for DryRun {
    fn send(&self, req: &Request) -> Result<Response> {
        if req.method.mutates() {
            if let Ok(mut log) = self.log.lock() {
                log.push(format!("would {} {}", req.method, req.path));
            }
            let body = req
                .body
                .as_deref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or_else(|| json!({}));
            return Ok(Response::json(200, &body));
        }
        if let Some(reads) = &self.reads {
            return reads.send(req);
        }
        if req.path == format!("/api/v1/nodes/{}", self.node) {
            return Ok(Response::json(
                200,
                &json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": self.node}}),
            ));
        }
        if ["/healthz", "/livez", "/readyz"].contains(&req.path.as_str()) {
            return Ok(Response {
                status: 200,
                body: b"ok".to_vec(),
            });
        }
        Ok(Response::json(
            404,
            &json!({"kind": "Status", "message": "not found (dry run)"}),
        ))
    }

    fn endpoint(&self) -> String {
        self.endpoint.clone()
    }
}
