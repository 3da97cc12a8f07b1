//! The machine's own folders: kubestrap never empties one, never takes one for a folder of its
//! own (a certificates or etcd data folder), and never changes the mode of one.

use std::path::{Component, Path, PathBuf};

/// Folders of the operating system and its users.
const SYSTEM_DIRS: &[&str] = &[
    "/",
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/home",
    "/lib",
    "/lib32",
    "/lib64",
    "/media",
    "/mnt",
    "/opt",
    "/proc",
    "/root",
    "/run",
    "/sbin",
    "/srv",
    "/sys",
    "/tmp",
    "/usr",
    "/usr/bin",
    "/usr/include",
    "/usr/lib",
    "/usr/lib64",
    "/usr/libexec",
    "/usr/local",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/share",
    "/var",
    "/var/cache",
    "/var/lib",
    "/var/log",
    "/var/mail",
    "/var/opt",
    "/var/run",
    "/var/spool",
    "/var/tmp",
];

/// Pseudo-filesystems: nothing in them is a folder of kubestrap's.
const PSEUDO: &[&str] = &["/proc", "/sys", "/dev"];

/// Whether an absolute logical path is a folder of the system itself or lies in a
/// pseudo-filesystem (`/proc/self/root` is `/`). `.`, `..` and a trailing `/` are taken lexically.
pub fn is_system_dir(logical: &Path) -> bool {
    let normal = normalize(logical);
    SYSTEM_DIRS.iter().any(|d| normal == Path::new(d))
        || PSEUDO.iter().any(|p| normal.starts_with(p))
}

/// Why `dir` cannot be `what` (a folder kubestrap makes its own: etcd's data folder), if it is a
/// system folder.
pub fn refused_as(dir: &str, what: &str) -> Option<String> {
    is_system_dir(Path::new(dir)).then(|| {
        format!(
            "{dir:?} is a system folder: it cannot be {what}, which kubestrap makes private (0700) and reset empties; name a folder of its own, such as /var/lib/etcd"
        )
    })
}

/// The path with `.` dropped and `..` taken back (never above `/`).
pub fn normalize(logical: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for part in logical.components() {
        match part {
            Component::Normal(name) => out.push(name),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_folders_in_any_spelling() {
        for dir in [
            "/",
            "/tmp/",
            "/var/./lib",
            "/etc/kubernetes/../..",
            "/proc/self/root",
            "/dev/shm",
            "/var/run",
        ] {
            assert!(is_system_dir(Path::new(dir)), "{dir}");
        }
        for dir in [
            "/var/lib/etcd",
            "/etc/kubernetes/pki",
            "/data/etcd",
            "/tmpx",
        ] {
            assert!(!is_system_dir(Path::new(dir)), "{dir}");
        }
    }
}
