//! fail2ban's jail configuration as fail2ban itself merges it: paths-*.conf, jail.conf, then
//! jail.d/*.conf, jail.local, jail.d/*.local (each folder in name order), later values winning,
//! `[DEFAULT]` under every section, `%(name)s` interpolated. Enough to tell what a banlog jail
//! reads and how it counts; `fail2ban-client -d` remains the authority for everything else.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

#[derive(Debug, Default)]
pub struct Conf {
    sections: BTreeMap<String, BTreeMap<String, String>>,
    /// The files read, in order.
    pub files: Vec<PathBuf>,
}

fn sorted(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == ext)).collect())
        .unwrap_or_default();
    v.sort();
    v
}

impl Conf {
    /// The jail configuration under `dir` (/etc/fail2ban); missing files are skipped.
    pub fn load(dir: &Path) -> Conf {
        let mut c = Conf::default();
        let mut order = vec![dir.join("paths-common.conf"), dir.join("paths-debian.conf"), dir.join("jail.conf")];
        order.extend(sorted(&dir.join("jail.d"), "conf"));
        order.push(dir.join("jail.local"));
        order.extend(sorted(&dir.join("jail.d"), "local"));
        for p in order {
            if let Ok(text) = fs::read_to_string(&p) {
                c.parse(&text);
                c.files.push(p);
            }
        }
        c
    }

    /// Reads one file's sections into the merge (configparser's rules, as fail2ban uses them:
    /// `key = value` or `key: value`, continuation lines indented, `#`/`;` comments).
    pub fn parse(&mut self, text: &str) {
        let mut section = String::new();
        let mut last: Option<String> = None;
        for line in text.lines() {
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
                continue;
            }
            if line.starts_with([' ', '\t']) {
                if let Some(k) = &last {
                    if let Some(v) = self.sections.get_mut(&section).and_then(|s| s.get_mut(k)) {
                        v.push('\n');
                        v.push_str(strip_inline_comment(t));
                    }
                }
                continue;
            }
            if t.starts_with('[') && t.ends_with(']') {
                section = t[1..t.len() - 1].trim().to_owned();
                last = None;
                continue;
            }
            let cut = t.find(['=', ':']);
            if let Some(i) = cut {
                let k = t[..i].trim().to_owned();
                let v = strip_inline_comment(t[i + 1..].trim()).to_owned();
                self.sections.entry(section.clone()).or_default().insert(k.clone(), v);
                last = Some(k);
            }
        }
    }

    pub fn has_section(&self, s: &str) -> bool {
        self.sections.contains_key(s)
    }

    /// A value of a section (or `[DEFAULT]`), interpolated.
    pub fn get(&self, section: &str, key: &str) -> Option<String> {
        self.get_depth(section, key, 0)
    }

    fn raw(&self, section: &str, key: &str) -> Option<&String> {
        self.sections.get(section).and_then(|s| s.get(key)).or_else(|| self.sections.get("DEFAULT")?.get(key))
    }

    fn get_depth(&self, section: &str, key: &str, depth: u8) -> Option<String> {
        let raw = self.raw(section, key)?;
        if depth > 10 {
            return Some(raw.clone());
        }
        let mut out = String::new();
        let mut rest = raw.as_str();
        while let Some(i) = rest.find('%') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            if let Some(a) = after.strip_prefix('%') {
                out.push('%');
                rest = a;
            } else if let Some((name, tail)) = after.strip_prefix('(').and_then(|a| a.split_once(")s")) {
                let v = if name == "__name__" {
                    Some(section.to_owned())
                } else {
                    self.get_depth(section, name, depth + 1)
                };
                out.push_str(&v.unwrap_or_default());
                rest = tail;
            } else {
                out.push('%');
                rest = after;
            }
        }
        out.push_str(rest);
        Some(out)
    }

    pub fn enabled(&self, jail: &str) -> bool {
        self.get(jail, "enabled")
            .is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "yes" | "1" | "on"))
    }

    /// The files a jail reads (its `logpath` lines; a trailing ` head`/` tail` option dropped,
    /// fail2ban's glob escapes undone), none for the systemd backend.
    pub fn logpaths(&self, jail: &str) -> Vec<String> {
        if self.get(jail, "backend").is_some_and(|b| b.trim().starts_with("systemd")) {
            return Vec::new();
        }
        self.get(jail, "logpath")
            .unwrap_or_default()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| {
                let l = l.strip_suffix(" head").or_else(|| l.strip_suffix(" tail")).unwrap_or(l).trim_end();
                l.replace("[*]", "*").replace("[?]", "?").replace("[[]", "[")
            })
            .collect()
    }
}

/// configparser's inline comments: `;` or `#` after white space.
fn strip_inline_comment(v: &str) -> &str {
    let b = v.as_bytes();
    for i in 1..b.len() {
        if (b[i] == b';' || b[i] == b'#') && b[i - 1].is_ascii_whitespace() {
            return v[..i].trim_end();
        }
    }
    v
}

/// fail2ban's time values: seconds, or with units (`1h`, `10m`, `1d`, `1w`, `30s`, sums like
/// `1h30m`); `-1` for ever.
pub fn seconds(v: &str) -> Option<i64> {
    let v = v.trim();
    if let Ok(n) = v.parse::<i64>() {
        return Some(n);
    }
    let mut total: i64 = 0;
    let mut num = String::new();
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        if c.is_whitespace() {
            continue;
        }
        let mut unit = c.to_string();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_alphabetic() {
                unit.push(n);
                chars.next();
            } else {
                break;
            }
        }
        let mult = match unit.to_ascii_lowercase().as_str() {
            "s" | "sec" | "second" | "seconds" => 1,
            "m" | "mi" | "min" | "minute" | "minutes" => 60,
            "h" | "hour" | "hours" => 3600,
            "d" | "day" | "days" => 86400,
            "w" | "week" | "weeks" => 604800,
            _ => return None,
        };
        let n: i64 = num.parse().ok()?;
        total = total.checked_add(n.checked_mul(mult)?)?;
        num.clear();
    }
    if !num.is_empty() {
        total = total.checked_add(num.parse().ok()?)?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_files_win_and_default_fills_in() {
        let mut c = Conf::default();
        c.parse("[DEFAULT]\nbantime = 10m\nlogdir = /var/log\n[j]\nmaxretry = 5\nlogpath = %(logdir)s/a.log\n   %(logdir)s/b.log head\n");
        c.parse("[j]\nmaxretry = 2 ; local\nenabled = true\n");
        assert_eq!(c.get("j", "maxretry").as_deref(), Some("2"));
        assert_eq!(seconds(&c.get("j", "bantime").unwrap()), Some(600));
        assert!(c.enabled("j"));
        assert_eq!(c.logpaths("j"), vec!["/var/log/a.log", "/var/log/b.log"]);
        assert_eq!(seconds("1h30m"), Some(5400));
        assert_eq!(seconds("-1"), Some(-1));
        assert_eq!(seconds("soon"), None);
    }
}
