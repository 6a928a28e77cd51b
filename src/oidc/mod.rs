//! OpenID Connect against the Microsoft identity platform (or any provider laid out like it):
//! discovery and key caches, the sign-in attempt (state, nonce, PKCE), the token call, and
//! ID-token validation.
//!
//! I/O lives in [`Provider`] and [`token`]; the checks ([`id_token`],
//! [`discovery::Metadata::check`]) are pure.

pub mod attempt;
pub mod discovery;
pub mod id_token;
pub mod keys;
mod provider;
#[cfg(test)]
pub(crate) mod test_keys;
pub mod token;

pub use attempt::Attempt;
pub use discovery::Metadata;
pub use id_token::{Claims, TokenError};
pub use keys::KeySet;
pub use provider::{Provider, SignedIn};

/// Failures talking to the identity provider, each naming the call.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("discovery: {0}")]
    Discovery(String),
    #[error("signing keys: {0}")]
    Keys(String),
    #[error("the identity provider's metadata is not loaded yet")]
    NotReady,
    #[error("token endpoint unreachable: {0}")]
    TokenUnreachable(String),
    #[error("token endpoint answered {error}")]
    TokenRejected {
        error: String,
        /// Microsoft's `error_codes` (AADSTS numbers).
        codes: Vec<u32>,
        /// Microsoft's description with its AADSTS code. Logged for operators, never shown.
        description: Option<String>,
    },
    #[error("token endpoint answered something that is not a token response: {0}")]
    TokenUnreadable(String),
    #[error("the token response has no id_token (is `openid` among the scopes?)")]
    NoIdToken,
    #[error(transparent)]
    IdToken(#[from] TokenError),
    #[error("client credential: {0}")]
    Credential(String),
}

/// A reqwest error in words an operator can act on (never with request bodies).
pub(crate) fn describe_reqwest(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        e.to_string()
    }
}
