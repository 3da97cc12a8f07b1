//! Where a field of a config file is: what error messages point at (`file:line:column`).

use super::locate;

/// A parsed file plus the means to point at any field in it.
#[derive(Debug)]
pub struct Source {
    pub(super) name: String,
    /// (kind, first line, text) of each kubeadm document.
    pub(super) kinds: Vec<(String, usize, String)>,
}

impl Source {
    /// Whether the file has a document of this kind.
    pub fn has_kind(&self, kind: &str) -> bool {
        self.kinds.iter().any(|(k, _, _)| k == kind)
    }

    /// `file:line:column` of a field path (`apiServer.extraArgs`) in the document of that kind.
    pub fn position(&self, kind: &str, path: &str) -> String {
        let found = self
            .kinds
            .iter()
            .find(|(k, _, _)| k == kind)
            .and_then(|(_, first, text)| {
                locate::locate(text, path).map(|(line, col)| (line + first - 1, col))
            });
        match found {
            Some((line, col)) => format!("{}:{line}:{col}", self.name),
            None => self.name.clone(),
        }
    }
}
