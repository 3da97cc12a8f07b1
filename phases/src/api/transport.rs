//! One request, one response: what every transport (HTTP, dry run, fake) speaks, free of retries
//! and objects.

use std::fmt;

use anyhow::Result;
use serde_json::Value;

/// An HTTP method the API client uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    /// The method's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    /// Whether the request changes the cluster.
    pub fn mutates(self) -> bool {
        !matches!(self, Method::Get)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `application/json`.
pub const JSON: &str = "application/json";
/// A JSON merge patch (RFC 7386).
pub const MERGE_PATCH: &str = "application/merge-patch+json";
/// Kubernetes' strategic merge patch.
pub const STRATEGIC_MERGE_PATCH: &str = "application/strategic-merge-patch+json";

/// One HTTP request to the API server; `path` includes the query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub content_type: Option<&'static str>,
    pub body: Option<Vec<u8>>,
}

impl Request {
    /// A request without a body.
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        Request {
            method,
            path: path.into(),
            content_type: None,
            body: None,
        }
    }

    /// A request with a JSON body of the given content type.
    pub fn with_json(mut self, content_type: &'static str, body: &Value) -> Self {
        self.content_type = Some(content_type);
        self.body = Some(body.to_string().into_bytes());
        self
    }
}

/// The answer of the API server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    /// A response with a JSON body.
    pub fn json(status: u16, body: &Value) -> Self {
        Response {
            status,
            body: body.to_string().into_bytes(),
        }
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `message` of a `Status` body, or the body itself.
    pub fn message(&self) -> String {
        serde_json::from_slice::<Value>(&self.body)
            .ok()
            .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| self.text().trim().to_string())
    }

    pub(super) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// The error of a request that got no answer for a reason that may pass (refused, reset, timed
/// out): [`Api`] retries these, and not TLS failures, which a retry cannot fix.
#[derive(Debug)]
pub struct Unreachable(pub String);

impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unreachable {}

/// Sends requests to one API server. An `Err` means no HTTP answer arrived; it is an
/// [`Unreachable`] when trying again may help.
pub trait Transport: Send + Sync {
    /// Sends one request.
    fn send(&self, req: &Request) -> Result<Response>;
    /// The server URL, for error messages (`https://10.0.0.1:6443`).
    fn endpoint(&self) -> String;
    /// Whether requests may be sent at the same time. Fakes and dry runs say no, so what they
    /// record keeps a fixed order.
    fn concurrent(&self) -> bool {
        false
    }
}
