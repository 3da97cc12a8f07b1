//! Finding the line and column of a field path (`apiServer.extraArgs`, `bootstrapTokens[0].ttl`)
//! in YAML, so every config problem can point at its place in the file.

/// The parts of a field path: `a.b[2].c` → `a`, `b`, `2`, `c`.
pub fn segments(path: &str) -> Vec<String> {
    path.replace('[', ".")
        .replace(']', "")
        .split('.')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

struct Line<'a> {
    /// 1-based line number.
    no: usize,
    /// Column of `-` for a sequence item.
    dash: Option<usize>,
    /// Column where the content (a key or a value) starts.
    col: usize,
    content: &'a str,
}

fn lines(text: &str) -> Vec<Line<'_>> {
    text.lines()
        .enumerate()
        .filter_map(|(i, raw)| {
            let trimmed = raw.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                return None;
            }
            let indent = raw.len() - trimmed.len();
            let (dash, col, content) = match trimmed
                .strip_prefix("- ")
                .or_else(|| (trimmed == "-").then_some(""))
            {
                Some(rest) => {
                    let inner = rest.trim_start();
                    (Some(indent), indent + 2 + (rest.len() - inner.len()), inner)
                }
                None => (None, indent, trimmed),
            };
            Some(Line {
                no: i + 1,
                dash,
                col,
                content,
            })
        })
        .collect()
}

fn is_key(content: &str, key: &str) -> bool {
    let unquoted = content
        .strip_prefix(&format!("\"{key}\""))
        .or_else(|| content.strip_prefix(&format!("'{key}'")))
        .or_else(|| content.strip_prefix(key));
    unquoted.is_some_and(|rest| rest.trim_start().starts_with(':'))
}

/// 1-based (line, column) of the last segment of `path` in `text`, if it can be found: by the
/// lines of block style, else (flow style) by the parser's own marks.
pub fn locate(text: &str, path: &str) -> Option<(usize, usize)> {
    in_block(text, path).or_else(|| super::yaml::position(text, &segments(path)))
}

fn in_block(text: &str, path: &str) -> Option<(usize, usize)> {
    let all = lines(text);
    let (mut lo, mut hi) = (0, all.len());
    let mut at = None;
    for seg in segments(path) {
        let range = &all[lo..hi];
        if let Ok(index) = seg.parse::<usize>() {
            let dash_col = range.iter().filter_map(|l| l.dash).min()?;
            let items: Vec<usize> = (lo..hi)
                .filter(|&i| all[i].dash == Some(dash_col))
                .collect();
            let start = *items.get(index)?;
            let end = items.get(index + 1).copied().unwrap_or_else(|| {
                (start + 1..hi)
                    .find(|&i| all[i].dash.unwrap_or(all[i].col) < dash_col)
                    .unwrap_or(hi)
            });
            at = Some((all[start].no, dash_col + 1));
            (lo, hi) = (start, end);
        } else {
            let block_col = range.iter().map(|l| l.col).min()?;
            let found =
                (lo..hi).find(|&i| all[i].col == block_col && is_key(all[i].content, &seg))?;
            let end = (found + 1..hi)
                .find(|&i| match all[i].dash {
                    Some(d) => d < block_col,
                    None => all[i].col <= block_col,
                })
                .unwrap_or(hi);
            at = Some((all[found].no, block_col + 1));
            (lo, hi) = (found + 1, end);
        }
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
apiVersion: kubeadm.k8s.io/v1beta3
kind: ClusterConfiguration
apiServer:
  certSANs:
  - a.example
  extraArgs:
    runtime-config: \"api/all=true\"
# a comment
networking:
  podSubnet: 10.244.0.0/16
";

    #[test]
    fn finds_nested_keys() {
        assert_eq!(locate(DOC, "apiServer"), Some((3, 1)));
        assert_eq!(locate(DOC, "apiServer.extraArgs"), Some((6, 3)));
        assert_eq!(
            locate(DOC, "apiServer.extraArgs.runtime-config"),
            Some((7, 5))
        );
        assert_eq!(locate(DOC, "networking.podSubnet"), Some((10, 3)));
        assert_eq!(locate(DOC, "apiServer.certSANs[0]"), Some((5, 3)));
        assert_eq!(locate(DOC, "networking.nothing"), None);
    }

    #[test]
    fn finds_keys_inside_list_items() {
        let doc = "bootstrapTokens:\n- token: abc\n  ttl: 1h\n- token: def\n  usages:\n  - signing\n  ttl: 2x\n";
        assert_eq!(locate(doc, "bootstrapTokens[1].ttl"), Some((7, 3)));
        assert_eq!(locate(doc, "bootstrapTokens[0].token"), Some((2, 3)));
    }

    #[test]
    fn splits_paths() {
        assert_eq!(segments("a.b[2].c"), ["a", "b", "2", "c"]);
    }
}
