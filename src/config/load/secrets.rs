//! Secrets from the config: a value or the content of a `*_file` (exactly one), and the session
//! secret's base64. Messages name keys and files, never the secret.

use std::path::Path;

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;

use super::{Problems, Text};
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

pub(super) fn session_secret(source: Sourced, problems: &mut Problems) -> Option<Secret<Vec<u8>>> {
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
        (None, Some(Text(file))) => {
            let path = base_dir.join(file.trim());
            match std::fs::read_to_string(&path) {
                Ok(content) => Some(Sourced {
                    key: file_key,
                    value: content.trim_end_matches(['\n', '\r']).to_owned(),
                }),
                Err(error) => {
                    let message = format!("cannot read {}: {error}", path.display());
                    problems.push(file_key, message);
                    None
                }
            }
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
