//! `banlog install`: the rendered files written into a fail2ban configuration folder.
//!
//! Every write is atomic (a temporary file in the same folder, synced, then renamed), so fail2ban
//! never reads half a file. A record of what was written (`.banlog-installed.json`: a digest per
//! file) tells a file banlog wrote and nobody touched since, which an upgrade may replace, from
//! one the admin changed, which is left alone unless `--force` (and then kept as `*.banlog-old`).
//! When `fail2ban-client -t` rejects the result, every file is put back as it was.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

pub const RECORD: &str = ".banlog-installed.json";

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
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

pub fn read_record(dir: &Path) -> Record {
    fs::read(dir.join(RECORD)).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
}

/// Writes `data` to `path` atomically with mode 0644 (fail2ban's files are world-readable).
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.banlog-tmp-{}", std::process::id()));
    let res = (|| {
        let mut f = fs::OpenOptions::new().write(true).create(true).truncate(true).open(&tmp)?;
        f.write_all(data)?;
        f.set_permissions(fs::Permissions::from_mode(0o644))?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        // The rename itself must reach the disk too.
        fs::File::open(dir)?.sync_all()
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

pub struct Installed {
    pub results: Vec<FileResult>,
    /// What each changed file held before (None: it did not exist), for a roll-back.
    undo: Vec<(PathBuf, Option<Vec<u8>>)>,
    old_record: Option<Vec<u8>>,
    dir: PathBuf,
}

impl Installed {
    /// Puts every file back as it was before [`install`].
    pub fn roll_back(&self) -> std::io::Result<()> {
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

pub fn install(dir: &Path, files: &[(&str, String)], force: bool) -> Result<Installed, String> {
    if !dir.is_dir() {
        return Err(format!(
            "{} is not a folder: is fail2ban installed? (apt-get install fail2ban), or pass --fail2ban-dir",
            dir.display()
        ));
    }
    let old_record = fs::read(dir.join(RECORD)).ok();
    let mut record = read_record(dir);
    let mut out = Installed { results: Vec::new(), undo: Vec::new(), old_record, dir: dir.to_owned() };
    for (rel, content) in files {
        let path = dir.join(rel);
        let parent = path.parent().unwrap();
        fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        let current = match fs::read(&path) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let new_digest = digest(content.as_bytes());
        let outcome = match &current {
            None => Outcome::Created,
            Some(cur) if cur == content.as_bytes() => Outcome::Unchanged,
            Some(cur) if record.files.get(*rel) == Some(&digest(cur)) => Outcome::Updated,
            Some(_) if force => Outcome::Replaced,
            Some(_) => Outcome::KeptChanged,
        };
        match outcome {
            Outcome::KeptChanged => {}
            Outcome::Unchanged => {
                record.files.insert((*rel).to_owned(), new_digest);
            }
            _ => {
                if outcome == Outcome::Replaced {
                    let keep =
                        path.with_file_name(format!("{}.banlog-old", path.file_name().unwrap().to_string_lossy()));
                    write_atomic(&keep, current.as_deref().unwrap())
                        .map_err(|e| format!("cannot keep the old {} as {}: {e}", path.display(), keep.display()))?;
                }
                write_atomic(&path, content.as_bytes()).map_err(|e| {
                    let _ = out.roll_back();
                    format!("cannot write {}: {e} (nothing was changed)", path.display())
                })?;
                out.undo.push((path.clone(), current));
                record.files.insert((*rel).to_owned(), new_digest);
            }
        }
        out.results.push(FileResult { path: path.display().to_string(), outcome });
    }
    record.version = env!("CARGO_PKG_VERSION").to_owned();
    let json = serde_json::to_vec_pretty(&record).unwrap();
    write_atomic(&dir.join(RECORD), &json).map_err(|e| {
        let _ = out.roll_back();
        format!("cannot write {}: {e} (nothing was changed)", dir.join(RECORD).display())
    })?;
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
