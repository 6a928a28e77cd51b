//! `Secret<T>`: a value that must never reach a log, a page or a `Debug` dump.
//!
//! It has no `PartialEq`; compare secrets with [`Secret::ct_eq`], which runs in constant time.

use std::fmt;

/// A secret value. `Debug` and `Display` print `***`.
#[derive(Clone)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    /// The secret itself. Call sites are easy to audit with a search for `expose`.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T: AsRef<[u8]>> Secret<T> {
    /// Constant-time equality with another byte string.
    pub fn ct_eq(&self, other: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        let mine = self.0.as_ref();
        mine.len() == other.len() && bool::from(mine.ct_eq(other))
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A new random session secret: 32 bytes from the OS, standard base64.
pub fn generate_session_secret() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("hunter2".to_string());
        assert_eq!(format!("{s:?} {s}"), "*** ***");
    }

    #[test]
    fn generated_secrets_are_32_random_bytes() {
        use base64::Engine;
        let a = generate_session_secret();
        let decoded = base64::engine::general_purpose::STANDARD.decode(&a);
        assert_eq!(decoded.map(|d| d.len()).ok(), Some(32));
        assert_ne!(a, generate_session_secret());
    }

    #[test]
    fn ct_eq_compares_bytes() {
        let s = Secret::new(b"abc".to_vec());
        assert!(s.ct_eq(b"abc"));
        assert!(!s.ct_eq(b"abd"));
        assert!(!s.ct_eq(b"ab"));
    }
}
