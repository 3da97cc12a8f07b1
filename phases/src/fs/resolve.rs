//! Following symbolic links inside the root: a link is read as the machine under the root would
//! read it, with the root as `/`, so no link (absolute, or climbing with `..`) leads out of it.

use std::io;
use std::path::{Component, Path, PathBuf};

/// How many links one path may go through (the kernel's own limit).
const MAX_LINKS: usize = 40;

/// The logical path that `logical` names once every symbolic link on it is followed with `base`
/// as `/`: absolute targets start at `base`, and `..` stops there. Components that do not exist
/// are kept as written (`..` after one is taken lexically).
pub fn in_root(base: &Path, logical: &Path) -> io::Result<PathBuf> {
    let mut resolved = PathBuf::from("/");
    let mut pending: Vec<PathBuf> = components(logical);
    pending.reverse();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        if part.as_os_str() == ".." {
            resolved.pop();
            continue;
        }
        let candidate = resolved.join(&part);
        let physical = base.join(candidate.strip_prefix("/").unwrap_or(&candidate));
        let target = match std::fs::symlink_metadata(&physical) {
            Ok(meta) if meta.file_type().is_symlink() => std::fs::read_link(&physical)?,
            _ => {
                resolved = candidate;
                continue;
            }
        };
        links += 1;
        if links > MAX_LINKS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`{}`: too many levels of symbolic links", logical.display()),
            ));
        }
        if target.is_absolute() {
            resolved = PathBuf::from("/");
        }
        let mut from_target = components(&target);
        from_target.reverse();
        pending.extend(from_target);
    }
    Ok(resolved)
}

/// The named parts of a path, `..` kept (as `..`), `/` and `.` dropped.
fn components(path: &Path) -> Vec<PathBuf> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(PathBuf::from(name)),
            Component::ParentDir => Some(PathBuf::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn links_are_followed_with_the_root_as_slash() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        std::fs::create_dir_all(base.join("run")).unwrap();
        std::fs::create_dir_all(base.join("var")).unwrap();
        std::fs::create_dir_all(base.join("etc/kubernetes")).unwrap();
        symlink("../run", base.join("var/run")).unwrap();
        symlink("/", base.join("etc/kubernetes/up")).unwrap();
        symlink("../../../../..", base.join("etc/kubernetes/climb")).unwrap();
        symlink("loop", base.join("etc/loop")).unwrap();
        let resolve = |p: &str| in_root(base, Path::new(p));
        assert_eq!(resolve("/var/run").unwrap(), Path::new("/run"));
        assert_eq!(resolve("/var/run/x/../y").unwrap(), Path::new("/run/y"));
        assert_eq!(resolve("/etc/kubernetes/up").unwrap(), Path::new("/"));
        assert_eq!(
            resolve("/etc/kubernetes/climb/etc").unwrap(),
            Path::new("/etc")
        );
        assert_eq!(
            resolve("/etc/kubernetes/pki").unwrap(),
            Path::new("/etc/kubernetes/pki")
        );
        assert!(resolve("/etc/loop").is_err());
    }
}
