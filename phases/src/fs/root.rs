//! `Root`: the one place that touches the filesystem.
//!
//! Code speaks in logical absolute paths (`/etc/kubernetes/pki/ca.crt`); `Root` maps them under a
//! base folder (`/` for a real run, a temporary folder in tests). Writes are atomic (temporary file in
//! the same folder, mode set, then renamed) and journaled. In dry-run, writes land in a scratch overlay
//! that later reads see, so a whole workflow can run without changing the base.

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context as _, Result, bail};

use super::fault;
use super::home::{self, Owner, UserDir};
use super::remove::{self, MountsLeft};
use super::resolve;

/// One change made (or, in dry-run, that would be made) under the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A file was written with this mode; `contents` is `None` for secrets.
    Wrote {
        path: String,
        mode: u32,
        size: usize,
        contents: Option<Vec<u8>>,
    },
    /// A folder was created with this mode.
    CreatedDir { path: String, mode: u32 },
    /// A file or folder was removed.
    Removed { path: String },
}

/// The filesystem seen through `--root`.
#[derive(Debug)]
pub struct Root {
    base: PathBuf,
    overlay: Option<tempfile::TempDir>,
    /// What a dry run removed: its overlay cannot hide a file of the base otherwise.
    removed: Mutex<HashSet<String>>,
    journal: Mutex<Vec<Change>>,
    write_log: Mutex<Option<WriteLog>>,
    /// The folders this run created (real paths): only their modes are set.
    created: Mutex<HashSet<PathBuf>>,
}

/// Where each write is announced before it lands: `tag<TAB>path` lines appended to a file, so a
/// process killed in the middle of a step leaves the names of the files it had started to write.
#[derive(Debug, Clone)]
struct WriteLog {
    file: String,
    tag: String,
}

impl Root {
    /// A root whose writes go to `base`.
    pub fn new(base: impl Into<PathBuf>) -> Self {
        Root {
            base: base.into(),
            overlay: None,
            removed: Mutex::default(),
            journal: Mutex::default(),
            write_log: Mutex::default(),
            created: Mutex::default(),
        }
    }

    /// A root that reads `base` but writes only to a private scratch folder.
    pub fn dry_run(base: impl Into<PathBuf>) -> Result<Self> {
        let overlay = tempfile::Builder::new()
            .prefix("kubestrap-dry-run-")
            .tempdir()
            .context("failed to create the dry-run scratch folder")?;
        Ok(Root {
            overlay: Some(overlay),
            ..Root::new(base)
        })
    }

    /// The folder logical `/` maps to.
    pub fn base(&self) -> &Path {
        &self.base
    }

    /// Whether writes are kept away from the base.
    pub fn is_dry_run(&self) -> bool {
        self.overlay.is_some()
    }

    /// Every change so far, in order.
    pub fn changes(&self) -> Vec<Change> {
        lock(&self.journal).clone()
    }

    /// The real path that a logical path reads from: the overlay's copy if dry-run wrote one.
    pub fn physical(&self, logical: impl AsRef<Path>) -> Result<PathBuf> {
        let rel = relative(logical.as_ref())?;
        if let Some(overlay) = &self.overlay {
            let staged = overlay.path().join(&rel);
            if staged.symlink_metadata().is_ok() {
                return Ok(staged);
            }
        }
        Ok(self.base.join(rel))
    }

    /// Where a write to a logical path lands.
    fn target(&self, logical: &Path) -> Result<PathBuf> {
        let rel = relative(logical)?;
        Ok(match &self.overlay {
            Some(overlay) => overlay.path().join(rel),
            None => self.base.join(rel),
        })
    }

    /// Whether this dry run removed the path (or a folder above it). A real run asks the disk:
    /// what a process made again after its removal (etcd restarted by a kubelet) is there.
    fn is_removed(&self, logical: &Path) -> bool {
        if !self.is_dry_run() {
            return false;
        }
        let removed = lock(&self.removed);
        logical
            .ancestors()
            .any(|a| removed.contains(&a.display().to_string()))
    }

    /// Creates a folder and its missing parents (0755), remembering each one created.
    fn make_dirs(&self, dir: &Path) -> std::io::Result<()> {
        let missing: Vec<&Path> = dir.ancestors().take_while(|d| !d.is_dir()).collect();
        for d in missing.into_iter().rev() {
            match fs::DirBuilder::new().mode(0o755).create(d) {
                Ok(()) => {
                    lock(&self.created).insert(d.to_path_buf());
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The logical path with every symbolic link on it followed inside the root, as the machine
    /// under the root would follow it: an absolute target starts at the root and `..` stops
    /// there, so the result never leaves the root (`/var/run` is `/run` where it links there).
    pub fn resolve(&self, logical: impl AsRef<Path>) -> Result<PathBuf> {
        let logical = logical.as_ref();
        if !logical.is_absolute() {
            bail!(
                "`{}` is not an absolute path; paths under the root must start with `/`",
                logical.display()
            );
        }
        resolve::in_root(&self.base, logical)
            .with_context(|| format!("failed to resolve `{}`", logical.display()))
    }

    /// The folder `sub` of a user's home (made when missing and `create`), opened for writing as
    /// that user would own it, without following anything the user could have planted (see
    /// [`home`]). Not in a dry run.
    pub fn user_dir(&self, home: &str, sub: &str, owner: Owner, create: bool) -> Result<UserDir> {
        if self.is_dry_run() {
            bail!("a dry run writes nothing in a user's home");
        }
        home::open(&self.base, Path::new(home), sub, owner, create)
    }

    /// Whether a file or folder exists at the logical path.
    pub fn exists(&self, logical: impl AsRef<Path>) -> bool {
        let logical = logical.as_ref();
        !self.is_removed(logical)
            && self
                .physical(logical)
                .is_ok_and(|p| p.symlink_metadata().is_ok())
    }

    /// Reads a whole file.
    pub fn read(&self, logical: impl AsRef<Path>) -> Result<Vec<u8>> {
        let logical = logical.as_ref();
        let read = || -> Result<Vec<u8>> {
            if self.is_removed(logical) {
                bail!("No such file or directory (removed in this dry run)");
            }
            Ok(fs::read(self.physical(logical)?)?)
        };
        read().with_context(|| format!("failed to read `{}`", logical.display()))
    }

    /// Reads a whole file a user named, refused without reading it when it is not a regular file
    /// or holds more than `limit` bytes (see [`super::bounded`]).
    pub fn read_bounded(&self, logical: impl AsRef<Path>, limit: u64) -> Result<Vec<u8>> {
        let logical = logical.as_ref();
        let read = || -> Result<Vec<u8>> {
            if self.is_removed(logical) {
                bail!("No such file or directory (removed in this dry run)");
            }
            Ok(super::bounded::read(&self.physical(logical)?, limit)?)
        };
        read().with_context(|| format!("failed to read `{}`", logical.display()))
    }

    /// Reads a whole file as UTF-8 text.
    pub fn read_to_string(&self, logical: impl AsRef<Path>) -> Result<String> {
        let logical = logical.as_ref();
        let bytes = self.read(logical)?;
        String::from_utf8(bytes)
            .with_context(|| format!("`{}` is not UTF-8 text", logical.display()))
    }

    /// Reads a file if it exists.
    pub fn read_optional(&self, logical: impl AsRef<Path>) -> Result<Option<Vec<u8>>> {
        let logical = logical.as_ref();
        if self.exists(logical) {
            self.read(logical).map(Some)
        } else {
            Ok(None)
        }
    }

    /// The permission bits of a file.
    pub fn mode(&self, logical: impl AsRef<Path>) -> Result<u32> {
        let logical = logical.as_ref();
        let meta = fs::metadata(self.physical(logical)?)
            .with_context(|| format!("failed to inspect `{}`", logical.display()))?;
        Ok(meta.permissions().mode() & 0o7777)
    }

    /// Names of the entries of a folder, sorted; empty when it does not exist.
    pub fn list(&self, logical: impl AsRef<Path>) -> Result<Vec<String>> {
        let logical = logical.as_ref();
        let mut names = HashSet::new();
        let mut dirs = vec![self.base.join(relative(logical)?)];
        if let Some(overlay) = &self.overlay {
            dirs.push(overlay.path().join(relative(logical)?));
        }
        for dir in dirs {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries {
                let entry =
                    entry.with_context(|| format!("failed to list `{}`", logical.display()))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if !self.is_removed(&logical.join(&name)) {
                    names.insert(name);
                }
            }
        }
        let mut names: Vec<String> = names.into_iter().collect();
        names.sort();
        Ok(names)
    }

    /// Creates a folder (and missing parents, 0755) with the given mode. A folder that was there
    /// before this run keeps its own mode (an existing 1777 folder stays 1777).
    pub fn create_dir(&self, logical: impl AsRef<Path>, mode: u32) -> Result<()> {
        let logical = logical.as_ref();
        let target = self.target(logical)?;
        let create = || -> Result<()> {
            if let Some(parent) = target.parent() {
                self.make_dirs(parent)?;
            }
            if !target.is_dir() {
                match fs::DirBuilder::new().mode(mode).create(&target) {
                    Ok(()) => {
                        lock(&self.created).insert(target.clone());
                    }
                    // Another run made it between the check and the create: it is not ours.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && target.is_dir() => {}
                    Err(e) => return Err(e.into()),
                }
            }
            if lock(&self.created).contains(&target) {
                fs::set_permissions(&target, fs::Permissions::from_mode(mode))?;
            }
            Ok(())
        };
        create().with_context(|| format!("failed to create folder `{}`", logical.display()))?;
        lock(&self.removed).remove(&logical.display().to_string());
        lock(&self.journal).push(Change::CreatedDir {
            path: logical.display().to_string(),
            mode,
        });
        Ok(())
    }

    /// Writes a file atomically with the given mode; its contents may be shown in dry-run.
    pub fn write(&self, logical: impl AsRef<Path>, bytes: &[u8], mode: u32) -> Result<()> {
        self.write_file(logical.as_ref(), bytes, mode, false)
    }

    /// Writes a private file (mode 0600) whose contents are never shown.
    pub fn write_secret(&self, logical: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
        self.write_file(logical.as_ref(), bytes, 0o600, true)
    }

    /// Announces every following write (`tag<TAB>path`, one line each) in the file at `log`, or
    /// stops announcing with `None`. Never in a dry run; the log's own folder is not announced.
    pub fn log_writes(&self, log: Option<(&str, &str)>) {
        *lock(&self.write_log) = log.map(|(file, tag)| WriteLog {
            file: file.to_string(),
            tag: tag.to_string(),
        });
    }

    fn announce(&self, logical: &Path) -> Result<()> {
        let Some(log) = lock(&self.write_log).clone() else {
            return Ok(());
        };
        let log_dir = Path::new(&log.file).parent().unwrap_or(Path::new("/"));
        if self.is_dry_run() || logical.starts_with(log_dir) {
            return Ok(());
        }
        // One line per write: a process killed between two writes leaves whole lines.
        self.append(&log.file, &format!("{}\t{}\n", log.tag, logical.display()))
    }

    /// Appends text to a file (not atomic: for logs read back line by line).
    pub fn append(&self, logical: impl AsRef<Path>, text: &str) -> Result<()> {
        let logical = logical.as_ref();
        let path = self.target(logical)?;
        let append = || -> Result<()> {
            if let Some(parent) = path.parent() {
                self.make_dirs(parent)?;
            }
            fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(&path)?
                .write_all(text.as_bytes())?;
            Ok(())
        };
        append().with_context(|| format!("failed to append to `{}`", logical.display()))?;
        lock(&self.removed).remove(&logical.display().to_string());
        Ok(())
    }

    fn write_file(&self, logical: &Path, bytes: &[u8], mode: u32, secret: bool) -> Result<()> {
        let target = self.target(logical)?;
        self.announce(logical)?;
        let write = || -> Result<()> {
            let parent = target.parent().context("a file path needs a folder")?;
            self.make_dirs(parent)?;
            let mut tmp = tempfile::Builder::new()
                .prefix(".kubestrap-")
                .tempfile_in(parent)?;
            // Set the mode before the contents land so a key is never readable by others.
            tmp.as_file()
                .set_permissions(fs::Permissions::from_mode(mode))?;
            if fault::while_writing(logical) {
                tmp.write_all(&bytes[..bytes.len() / 2])?;
                tmp.as_file().sync_all()?;
                fault::die();
            }
            tmp.write_all(bytes)?;
            tmp.as_file().sync_all()?;
            tmp.persist(&target)?;
            Ok(())
        };
        write().with_context(|| format!("failed to write `{}`", logical.display()))?;
        lock(&self.removed).remove(&logical.display().to_string());
        lock(&self.journal).push(Change::Wrote {
            path: logical.display().to_string(),
            mode,
            size: bytes.len(),
            contents: (!secret).then(|| bytes.to_vec()),
        });
        Ok(())
    }

    /// Removes a file or a whole folder; a missing one is not an error. The folders on the way
    /// are resolved inside the root ([`Root::resolve`]); within the tree no link is followed and
    /// no mounted filesystem entered: a mount point met stays, with its files, and the removal
    /// fails with [`MountsLeft`] naming it after removing the rest.
    pub fn remove_all(&self, logical: impl AsRef<Path>) -> Result<()> {
        let logical = logical.as_ref();
        let rel = relative(logical)?;
        if rel.as_os_str().is_empty() {
            bail!(
                "refusing to remove `{}`: that is the whole root",
                logical.display()
            );
        }
        if !self.exists(logical) {
            return Ok(());
        }
        if self.overlay.is_none() {
            let parent =
                self.resolve(Path::new("/").join(rel.parent().unwrap_or(Path::new(""))))?;
            let inside = relative(&parent)?.join(rel.file_name().unwrap_or_default());
            let left = remove::tree(&self.base, &inside)
                .with_context(|| format!("failed to remove `{}`", logical.display()))?;
            if !left.is_empty() {
                return Err(MountsLeft(left).into());
            }
        }
        lock(&self.removed).insert(logical.display().to_string());
        lock(&self.journal).push(Change::Removed {
            path: logical.display().to_string(),
        });
        Ok(())
    }
}

/// A logical path as a path relative to the root; refuses anything that could leave it.
fn relative(logical: &Path) -> Result<PathBuf> {
    if !logical.is_absolute() {
        bail!(
            "`{}` is not an absolute path; paths under the root must start with `/`",
            logical.display()
        );
    }
    let mut rel = PathBuf::new();
    for part in logical.components() {
        match part {
            Component::RootDir => {}
            Component::Normal(p) => rel.push(p),
            Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => bail!(
                "`{}` contains `..`; paths may not leave the root",
                logical.display()
            ),
        }
    }
    Ok(rel)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; keep using it.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_land_under_the_base_with_their_mode() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        root.write_secret("/etc/kubernetes/pki/ca.key", b"key")
            .unwrap();
        let real = dir.path().join("etc/kubernetes/pki/ca.key");
        assert_eq!(fs::read(&real).unwrap(), b"key");
        assert_eq!(
            fs::metadata(&real).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(root.mode("/etc/kubernetes/pki/ca.key").unwrap(), 0o600);
        assert!(matches!(
            &root.changes()[0],
            Change::Wrote {
                contents: None,
                mode: 0o600,
                ..
            }
        ));
    }

    #[test]
    fn paths_may_not_escape() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let err = root.write("/etc/../../x", b"", 0o644).unwrap_err();
        assert!(
            format!("{err:#}").contains("may not leave the root"),
            "{err:#}"
        );
        assert!(root.write("etc/x", b"", 0o644).is_err());
    }

    #[test]
    fn dry_run_reads_its_own_writes_and_leaves_the_base_alone() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("etc")).unwrap();
        fs::write(dir.path().join("etc/hosts"), "old").unwrap();
        let root = Root::dry_run(dir.path()).unwrap();
        root.write("/etc/hosts", b"new", 0o644).unwrap();
        root.write("/etc/kubernetes/admin.conf", b"x", 0o600)
            .unwrap();
        assert_eq!(root.read("/etc/hosts").unwrap(), b"new");
        assert!(root.exists("/etc/kubernetes/admin.conf"));
        root.remove_all("/etc/hosts").unwrap();
        assert!(!root.exists("/etc/hosts"));
        assert_eq!(fs::read(dir.path().join("etc/hosts")).unwrap(), b"old");
        assert!(!dir.path().join("etc/kubernetes").exists());
        assert_eq!(root.list("/etc").unwrap(), vec!["kubernetes"]);
    }

    #[test]
    fn a_real_run_sees_what_another_process_made_again_after_a_removal() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        root.create_dir("/var/lib/etcd/member/wal", 0o700).unwrap();
        root.remove_all("/var/lib/etcd/member").unwrap();
        assert!(!root.exists("/var/lib/etcd/member"));
        // Another process (an etcd the kubelet restarted) makes it again.
        fs::create_dir_all(dir.path().join("var/lib/etcd/member/snap")).unwrap();
        assert!(root.exists("/var/lib/etcd/member"));
        assert!(root.exists("/var/lib/etcd/member/snap"));
        assert_eq!(root.list("/var/lib/etcd").unwrap(), vec!["member"]);
        root.remove_all("/var/lib/etcd/member").unwrap();
        assert!(!dir.path().join("var/lib/etcd/member").exists());
    }

    #[test]
    fn a_file_appended_to_after_its_removal_exists_again() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        root.append("/var/log/x", "a\n").unwrap();
        root.remove_all("/var/log/x").unwrap();
        root.append("/var/log/x", "b\n").unwrap();
        assert!(root.exists("/var/log/x"));
        root.remove_all("/var/log/x").unwrap();
        assert!(!dir.path().join("var/log/x").exists());
    }

    #[test]
    fn an_existing_folder_keeps_its_mode_and_a_new_one_gets_the_asked_one() {
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("tmp");
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
        let root = Root::new(dir.path());
        root.create_dir("/tmp", 0o755).unwrap();
        root.create_dir("/var/lib/etcd", 0o700).unwrap();
        let mode = |p: &str| {
            fs::metadata(dir.path().join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o7777
        };
        assert_eq!(mode("tmp"), 0o1777);
        assert_eq!(mode("var/lib/etcd"), 0o700);
        // Made by a write earlier in this run: still this run's, so it gets its mode.
        root.write("/var/lib/kubelet/config.yaml", b"x", 0o644)
            .unwrap();
        root.create_dir("/var/lib/kubelet", 0o700).unwrap();
        assert_eq!(mode("var/lib/kubelet"), 0o700);
    }

    #[test]
    fn removal_follows_links_inside_the_root_only_and_never_takes_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("ca.key"), "theirs").unwrap();
        fs::create_dir_all(dir.path().join("etc/kubernetes")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("etc/kubernetes/pki")).unwrap();
        let root = Root::new(dir.path());
        root.remove_all("/etc/kubernetes/pki/ca.key").unwrap();
        assert!(outside.path().join("ca.key").is_file());
        // The link itself goes, not what it leads to.
        root.remove_all("/etc/kubernetes/pki").unwrap();
        assert!(outside.path().join("ca.key").is_file());
        assert!(!dir.path().join("etc/kubernetes/pki").exists());
        let err = root.remove_all("/").unwrap_err();
        assert!(format!("{err:#}").contains("the whole root"), "{err:#}");
        assert!(dir.path().join("etc/kubernetes").is_dir());
    }

    #[test]
    fn read_errors_name_the_logical_path() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let err = root.read("/etc/kubernetes/pki/ca.crt").unwrap_err();
        assert!(format!("{err}").contains("`/etc/kubernetes/pki/ca.crt`"));
    }
}
