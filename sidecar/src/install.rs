//! `banlog install`: the rendered files written into a fail2ban configuration folder.
//!
//! Every write is atomic: a temporary file created exclusively under an unpredictable name in the
//! same folder, synced, then renamed over the target, so fail2ban never reads half a file and
//! nobody can make banlog write through a name planted in advance. Symbolic links are never
//! followed below the configuration folder: a link where banlog would read or write (a file,
//! `filter.d`, `jail.d`) is refused with an error. A file that exists keeps its mode and owner;
//! a new one gets 0644 (fail2ban's files are world-readable).
//!
//! A record of what was written (`.banlog-installed.json`: a digest per file) tells a file banlog
//! wrote and nobody touched since, which an upgrade may replace, from one the admin changed,
//! which is left alone unless `--force` (and then kept as `*.banlog-old`, with its mode). When
//! `fail2ban-client -t` rejects the result, every file is put back as it was.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

pub const RECORD: &str = ".banlog-installed.json";

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("{0} is not a folder: is fail2ban installed? (apt-get install fail2ban), or pass --fail2ban-dir")]
    NoDir(String),
    #[error("{0} is a symbolic link: banlog does not write through links; remove it (or replace it by the file or folder it points to) and run again")]
    Link(String),
    #[error("{0} is not a regular file: remove it and run again")]
    NotFile(String),
    #[error("{0} is not a folder: remove it and run again")]
    NotDir(String),
    #[error("cannot create {path}: {source}")]
    Create { path: String, source: io::Error },
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: io::Error },
    #[error("cannot keep the old {path} as {keep}: {source}")]
    Keep { path: String, keep: String, source: io::Error },
    #[error("cannot write {path}: {source} (nothing was changed)")]
    Write { path: String, source: io::Error },
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Record {
    pub version: String,
    /// Relative path → FNV-1a-64 digest (hex) of the content banlog wrote.
    pub files: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
    /// Changed since banlog wrote it (or not written by banlog): left alone.
    KeptChanged,
    /// Changed, overwritten because of --force; the old content is in `<file>.banlog-old`.
    Replaced,
    /// Written, then put back as it was because fail2ban rejected the result.
    RolledBack,
    /// Removed by `banlog uninstall`.
    Removed,
    /// In the record, but no longer there.
    Missing,
}

impl Outcome {
    pub fn words(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Unchanged => "unchanged",
            Outcome::Replaced => "replaced (your version is kept as .banlog-old)",
            Outcome::KeptChanged => {
                "KEPT: you changed it; rerun with --force to replace it, or move your changes into a .local file"
            }
            Outcome::RolledBack => "not installed (put back as it was)",
            Outcome::Removed => "removed",
            Outcome::Missing => "already gone",
        }
    }
}

#[derive(Debug, Serialize)]
pub struct FileResult {
    pub path: String,
    pub outcome: Outcome,
}

/// FNV-1a, 64 bits: enough to notice an edit; this is not a defence against a forger (whoever
/// can write /etc/fail2ban needs no forgery).
pub fn digest(data: &[u8]) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

/// A file as it is now: its content and mode, None when it does not exist. A symbolic link or
/// anything but a regular file is an error (opened with O_NOFOLLOW and without blocking, then
/// checked on the open file: no window between the check and the read).
pub fn read_existing(path: &Path) -> Result<Option<(Vec<u8>, u32)>, InstallError> {
    let shown = || path.display().to_string();
    let f = fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path);
    let mut f = match f {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Err(InstallError::Link(shown())),
        Err(source) => return Err(InstallError::Read { path: shown(), source }),
    };
    let meta = f.metadata().map_err(|source| InstallError::Read { path: shown(), source })?;
    if !meta.is_file() {
        return Err(InstallError::NotFile(shown()));
    }
    let mut data = Vec::new();
    f.read_to_end(&mut data).map_err(|source| InstallError::Read { path: shown(), source })?;
    Ok(Some((data, meta.mode() & 0o7777)))
}

/// A folder below the configuration folder, created if missing; a link there is refused.
fn ensure_dir(path: &Path) -> Result<(), InstallError> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(InstallError::Link(path.display().to_string())),
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(InstallError::NotDir(path.display().to_string())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir(path)
            .or_else(|e| if e.kind() == io::ErrorKind::AlreadyExists { Ok(()) } else { Err(e) })
            .map_err(|source| InstallError::Create { path: path.display().to_string(), source })
            .and_then(|()| ensure_dir(path)),
        Err(source) => Err(InstallError::Create { path: path.display().to_string(), source }),
    }
}

/// Writes `data` to `path` atomically, keeping an existing file's mode, 0644 for a new one: see
/// [`write_atomic_mode`].
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    write_atomic_mode(path, data, None)
}

/// Writes `data` to `path` atomically: a new temporary file with an unpredictable name
/// (O_EXCL), synced, given the owner and mode of the file it replaces (or `mode`, or 0644 for a
/// new file), then renamed over `path` (a rename replaces a link planted meanwhile instead of
/// following it). A symbolic link or a non-file at `path` is refused.
pub fn write_atomic_mode(path: &Path, data: &[u8], mode: Option<u32>) -> io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let current = match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err(io::Error::other(format!(
                "{} is a symbolic link: banlog does not write through links",
                path.display()
            )))
        }
        Ok(m) if !m.is_file() => return Err(io::Error::other(format!("{} is not a regular file", path.display()))),
        Ok(m) => Some(m),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let mut tmp = tempfile::Builder::new().prefix(".banlog-").suffix(".tmp").tempfile_in(dir)?;
    tmp.write_all(data)?;
    let f = tmp.as_file();
    if let Some(m) = &current {
        // Owner first: chown clears set-id bits, which the mode then restores.
        std::os::unix::fs::fchown(f, Some(m.uid()), Some(m.gid()))?;
    }
    let mode = mode.or(current.map(|m| m.mode() & 0o7777)).unwrap_or(0o644);
    f.set_permissions(fs::Permissions::from_mode(mode))?;
    f.sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    // The rename itself must reach the disk too.
    fs::File::open(dir)?.sync_all()
}

pub struct Installed {
    pub results: Vec<FileResult>,
    /// What each changed file held before (None: it did not exist), for a roll-back.
    undo: Vec<(PathBuf, Option<Vec<u8>>)>,
    old_record: Option<Vec<u8>>,
    dir: PathBuf,
}

impl Installed {
    /// [`Self::roll_back`], and the results say so: nothing claims "created" any more.
    pub fn roll_back_reported(&mut self) -> io::Result<()> {
        self.roll_back()?;
        for r in &mut self.results {
            if matches!(r.outcome, Outcome::Created | Outcome::Updated | Outcome::Replaced) {
                r.outcome = Outcome::RolledBack;
            }
        }
        Ok(())
    }

    /// Puts every file back as it was before [`install`] (a file keeps its mode: the rename
    /// replaced it by one with the same mode).
    pub fn roll_back(&self) -> io::Result<()> {
        for (path, old) in self.undo.iter().rev() {
            match old {
                Some(data) => write_atomic(path, data)?,
                None => fs::remove_file(path)?,
            }
        }
        match &self.old_record {
            Some(data) => write_atomic(&self.dir.join(RECORD), data),
            None => fs::remove_file(self.dir.join(RECORD)),
        }
    }
}

pub fn install(dir: &Path, files: &[(&str, String)], force: bool) -> Result<Installed, InstallError> {
    if !dir.is_dir() {
        return Err(InstallError::NoDir(dir.display().to_string()));
    }
    let old_record = read_existing(&dir.join(RECORD))?.map(|(d, _)| d);
    let mut record: Record = old_record.as_deref().and_then(|b| serde_json::from_slice(b).ok()).unwrap_or_default();
    let mut out = Installed { results: Vec::new(), undo: Vec::new(), old_record, dir: dir.to_owned() };
    for (rel, content) in files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent().filter(|p| *p != dir) {
            ensure_dir(parent)?;
        }
        let current = read_existing(&path)?;
        let new_digest = digest(content.as_bytes());
        let outcome = match &current {
            None => Outcome::Created,
            Some((cur, _)) if cur == content.as_bytes() => Outcome::Unchanged,
            Some((cur, _)) if record.files.get(*rel) == Some(&digest(cur)) => Outcome::Updated,
            Some(_) if force => Outcome::Replaced,
            Some(_) => Outcome::KeptChanged,
        };
        match outcome {
            Outcome::KeptChanged => {}
            Outcome::Unchanged => {
                record.files.insert((*rel).to_owned(), new_digest);
            }
            _ => {
                if let (Outcome::Replaced, Some((cur, mode))) = (outcome, &current) {
                    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    let keep = path.with_file_name(format!("{name}.banlog-old"));
                    // The copy gets the original's mode, not the 0644 of a new file.
                    let res = read_existing(&keep).and_then(|_| {
                        write_atomic_mode(&keep, cur, Some(*mode))
                            .map_err(|source| InstallError::Write { path: keep.display().to_string(), source })
                    });
                    if let Err(e) = res {
                        let _ = out.roll_back();
                        return Err(InstallError::Keep {
                            path: path.display().to_string(),
                            keep: keep.display().to_string(),
                            source: io::Error::other(e.to_string()),
                        });
                    }
                }
                if let Err(source) = write_atomic(&path, content.as_bytes()) {
                    let _ = out.roll_back();
                    return Err(InstallError::Write { path: path.display().to_string(), source });
                }
                out.undo.push((path.clone(), current.map(|(d, _)| d)));
                record.files.insert((*rel).to_owned(), new_digest);
            }
        }
        out.results.push(FileResult { path: path.display().to_string(), outcome });
    }
    record.version = env!("CARGO_PKG_VERSION").to_owned();
    let json = serde_json::to_vec_pretty(&record).unwrap_or_default();
    if let Err(source) = write_atomic(&dir.join(RECORD), &json) {
        let _ = out.roll_back();
        return Err(InstallError::Write { path: dir.join(RECORD).display().to_string(), source });
    }
    Ok(out)
}

/// Removes what the record says install wrote (a key is relative to `dir`, or absolute for a
/// file outside it: the logrotate file), then the record. A file changed since is kept unless
/// `force`. The logs and the admin's `.local` files are in no record: they stay.
pub fn uninstall(dir: &Path, force: bool) -> Result<Vec<FileResult>, InstallError> {
    if !dir.is_dir() {
        return Err(InstallError::NoDir(dir.display().to_string()));
    }
    let record: Record = match read_existing(&dir.join(RECORD))? {
        Some((d, _)) => serde_json::from_slice(&d).unwrap_or_default(),
        None => Record::default(),
    };
    let mut out = Vec::new();
    let mut kept = Record { version: record.version.clone(), files: BTreeMap::new() };
    for (key, want) in &record.files {
        let path = dir.join(key);
        let outcome = match read_existing(&path)? {
            None => Outcome::Missing,
            Some((cur, _)) if &digest(&cur) != want && !force => {
                kept.files.insert(key.clone(), want.clone());
                Outcome::KeptChanged
            }
            Some(_) => {
                fs::remove_file(&path)
                    .map_err(|source| InstallError::Write { path: path.display().to_string(), source })?;
                Outcome::Removed
            }
        };
        out.push(FileResult { path: path.display().to_string(), outcome });
    }
    // A kept file stays in the record, so that a later `uninstall --force` still knows it.
    let res = if kept.files.is_empty() {
        fs::remove_file(dir.join(RECORD)).or_else(|e| if e.kind() == io::ErrorKind::NotFound { Ok(()) } else { Err(e) })
    } else {
        write_atomic(&dir.join(RECORD), &serde_json::to_vec_pretty(&kept).unwrap_or_default())
    };
    res.map_err(|source| InstallError::Write { path: dir.join(RECORD).display().to_string(), source })?;
    Ok(out)
}

/// `fail2ban-client -c DIR -t`: Ok(None) when fail2ban is not installed.
pub fn validate(dir: &Path) -> Result<Option<String>, String> {
    run_client(dir, &["-t"])
}

pub fn reload(dir: &Path) -> Result<Option<String>, String> {
    run_client(dir, &["reload"])
}

fn run_client(dir: &Path, args: &[&str]) -> Result<Option<String>, String> {
    let mut cmd = Command::new("fail2ban-client");
    cmd.arg("-c").arg(dir).args(args);
    match cmd.output() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot run fail2ban-client: {e}")),
        Ok(o) => {
            let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
            if o.status.success() {
                Ok(Some(text))
            } else {
                Err(text)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_what_the_admin_changed() {
        let d = tempfile::tempdir().unwrap();
        let f1 = vec![("filter.d/a.conf", "one\n".to_owned())];
        let r = install(d.path(), &f1, false).unwrap();
        assert_eq!(r.results[0].outcome, Outcome::Created);
        let f2 = vec![("filter.d/a.conf", "two\n".to_owned())];
        assert_eq!(install(d.path(), &f2, false).unwrap().results[0].outcome, Outcome::Updated);
        assert_eq!(install(d.path(), &f2, false).unwrap().results[0].outcome, Outcome::Unchanged);
        fs::write(d.path().join("filter.d/a.conf"), "mine\n").unwrap();
        let f3 = vec![("filter.d/a.conf", "three\n".to_owned())];
        assert_eq!(install(d.path(), &f3, false).unwrap().results[0].outcome, Outcome::KeptChanged);
        assert_eq!(fs::read_to_string(d.path().join("filter.d/a.conf")).unwrap(), "mine\n");
        let forced = install(d.path(), &f3, true).unwrap();
        assert_eq!(forced.results[0].outcome, Outcome::Replaced);
        assert_eq!(fs::read_to_string(d.path().join("filter.d/a.conf.banlog-old")).unwrap(), "mine\n");
        forced.roll_back().unwrap();
        assert_eq!(fs::read_to_string(d.path().join("filter.d/a.conf")).unwrap(), "mine\n");
    }
}
