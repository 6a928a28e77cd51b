//! Files the config names (TLS certificates and keys, CA bundles): resolved against the config
//! file's directory and checked to be readable, non-empty files at load, so a typo in a path
//! fails before start.
//!
//! Must not: parse the content (the TLS code does that at start, and again on reload) or put any
//! of it into a message; a key file is a secret.

use std::path::{Path, PathBuf};

use super::{Problems, Text};

/// The file named at `key`, resolved against `base_dir`, if it can be opened and is a non-empty
/// regular file; otherwise a problem naming the key (the path) and the file.
pub(super) fn readable_file(
    key: &str,
    raw: &Text,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<PathBuf> {
    let text = raw.0.trim();
    if text.is_empty() {
        problems.push(key, "must not be empty; give the path of a PEM file");
        return None;
    }
    let path = base_dir.join(text);
    let problem = match std::fs::File::open(&path).and_then(|file| file.metadata()) {
        Err(error) => format!("cannot read {}: {error}", path.display()),
        Ok(meta) if !meta.is_file() => {
            format!(
                "{} is not a file; give the path of a PEM file",
                path.display()
            )
        }
        Ok(meta) if meta.len() == 0 => format!("{} is empty", path.display()),
        Ok(_) => return Some(path),
    };
    problems.push(key, problem);
    None
}

/// A `{cert_file, key_file}` pair under `key`: both required, both readable.
pub(super) fn certificate_pair(
    key: &str,
    cert_file: Option<Text>,
    key_file: Option<Text>,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<(PathBuf, PathBuf)> {
    let mut one = |name: &str, raw: Option<Text>| {
        let path = format!("{key}.{name}");
        match raw {
            Some(raw) => readable_file(&path, &raw, base_dir, problems),
            None => {
                problems.push(
                    path,
                    "required; a certificate needs both cert_file (the PEM chain, leaf first) \
                     and key_file (its private key)",
                );
                None
            }
        }
    };
    let cert = one("cert_file", cert_file);
    let key = one("key_file", key_file);
    Some((cert?, key?))
}
