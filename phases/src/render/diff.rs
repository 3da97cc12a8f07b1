//! Unified diffs of two texts (a manifest as it is and as it would be), as `diff -u` prints them.

use similar::TextDiff;

/// The unified diff from `old` (named `old_name`) to `new` (`new_name`) with `context` lines
/// around each change; empty when the texts are the same.
pub fn unified(old: &str, new: &str, old_name: &str, new_name: &str, context: usize) -> String {
    TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(context)
        .header(old_name, new_name)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_line_is_shown_with_its_context() {
        let old = "a\nb\nc\nd\n";
        let new = "a\nb\nC\nd\n";
        assert_eq!(
            unified(old, new, "x.yaml", "x.yaml (new)", 1),
            "--- x.yaml\n+++ x.yaml (new)\n@@ -2,3 +2,3 @@\n b\n-c\n+C\n d\n"
        );
        assert_eq!(unified(old, old, "x", "y", 3), "");
    }
}
