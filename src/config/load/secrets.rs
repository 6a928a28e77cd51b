//! Secrets from the config: a value or the content of a `*_file` (exactly one), and the session
//! secrets' base64 (one or a list). Messages name keys and files, never the secret.

use std::path::Path;

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;

use super::{OneOrList, Problems, Text};
use crate::secret::Secret;

/// A value read from `key` or from the file named by `key_file`, with the key it came from.
pub(super) struct Sourced {
    pub(super) key: String,
    pub(super) value: String,
}

const MIN_SECRET_BYTES: usize = 32;
const SECRET_HINT: &str = "run 'entrance secret' to make one";

/// Accepts standard and url-safe base64 (after mapping `-_` to `+/`), padded or not.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// `session.secret` or `session.secret_file` (exactly one), each a string or a list: the first
/// secret seals, every one opens. Problems name the entry (`session.secret[1]`).
pub(super) fn session_secrets(
    value: Option<OneOrList>,
    file: Option<OneOrList>,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<Vec<Secret<Vec<u8>>>> {
    let key = "session.secret";
    let (list_key, raw, from_file) = match (value, file) {
        (Some(_), Some(_)) => {
            problems.push(
                key,
                "set only one of session.secret and session.secret_file",
            );
            return None;
        }
        (None, None) => {
            problems.push(
                key,
                "required (or session.secret_file); base64 of at least 32 random bytes; \
                 run 'entrance secret' to make one",
            );
            return None;
        }
        (Some(value), None) => (key.to_owned(), value, false),
        (None, Some(file)) => (format!("{key}_file"), file, true),
    };
    if matches!(&raw, OneOrList::List(items) if items.is_empty()) {
        problems.push(
            list_key,
            "lists no secret; give one, or several when rotating (the first seals new \
             sessions, every one opens existing sessions)",
        );
        return None;
    }
    let mut secrets: Vec<(String, Secret<Vec<u8>>)> = Vec::new();
    let mut ok = true;
    for (entry_key, text) in raw.keyed(&list_key) {
        let source = if from_file {
            read_file(entry_key, &text, base_dir, problems)
        } else {
            Some(Sourced {
                key: entry_key,
                value: text,
            })
        };
        match source.and_then(|source| distinct_secret(source, &secrets, problems)) {
            Some(entry) => secrets.push(entry),
            None => ok = false,
        }
    }
    ok.then(|| secrets.into_iter().map(|(_, secret)| secret).collect())
}

/// One entry of the secret list, checked, and not equal to one of `known` (listed before it).
fn distinct_secret(
    source: Sourced,
    known: &[(String, Secret<Vec<u8>>)],
    problems: &mut Problems,
) -> Option<(String, Secret<Vec<u8>>)> {
    let key = source.key.clone();
    let secret = session_secret(source, problems)?;
    // Byte equality at load is fine: both values are ours, and nothing is timed here.
    if let Some((first, _)) = known.iter().find(|(_, k)| k.expose() == secret.expose()) {
        let message = format!("is the same secret as {first}; list each secret once");
        problems.push(key, message);
        return None;
    }
    Some((key, secret))
}

fn session_secret(source: Sourced, problems: &mut Problems) -> Option<Secret<Vec<u8>>> {
    let source = non_empty(source, problems)?;
    let normalised: String = source
        .value
        .trim()
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    // The decode error is not shown: it quotes the offending character and its offset.
    match LENIENT_BASE64.decode(normalised) {
        Ok(bytes) if bytes.len() >= MIN_SECRET_BYTES => Some(Secret::new(bytes)),
        Ok(_) => {
            let message =
                format!("must decode to at least {MIN_SECRET_BYTES} bytes; {SECRET_HINT}");
            problems.push(source.key, message);
            None
        }
        Err(_) => {
            problems.push(source.key, format!("is not base64; {SECRET_HINT}"));
            None
        }
    }
}

/// The value of `key` or the content of the file named by `<key>_file` (exactly one).
pub(super) fn sourced(
    key: &str,
    value: Option<Text>,
    file: Option<Text>,
    base_dir: &Path,
    required: &str,
    problems: &mut Problems,
) -> Option<Sourced> {
    let file_key = format!("{key}_file");
    match (value, file) {
        (Some(_), Some(_)) => {
            problems.push(key, format!("set only one of {key} and {file_key}"));
            None
        }
        (None, None) => {
            problems.push(key, required);
            None
        }
        (Some(Text(value)), None) => Some(Sourced {
            key: key.to_owned(),
            value,
        }),
        (None, Some(Text(file))) => read_file(file_key, &file, base_dir, problems),
    }
}

/// The content of the file `file` (relative to `base_dir`) named at `key`, without its final
/// line break.
pub(super) fn read_file(
    key: String,
    file: &str,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<Sourced> {
    let path = base_dir.join(file.trim());
    match std::fs::read_to_string(&path) {
        Ok(content) => Some(Sourced {
            key,
            value: content.trim_end_matches(['\n', '\r']).to_owned(),
        }),
        Err(error) => {
            let message = format!("cannot read {}: {error}", path.display());
            problems.push(key, message);
            None
        }
    }
}

pub(super) fn non_empty(source: Sourced, problems: &mut Problems) -> Option<Sourced> {
    if source.value.trim().is_empty() {
        let what = if source.key.ends_with("_file") {
            "the file is empty"
        } else {
            "is empty"
        };
        problems.push(source.key, what);
        return None;
    }
    Some(source)
}
