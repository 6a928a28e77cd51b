//! Shapes of names that appear in config and tokens: tenant and object ids (GUIDs) and DNS
//! domains. Pure; one definition for the config loader, the policy and token validation.

/// 8-4-4-4-12 hexadecimal digits.
pub fn is_guid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// A dotted host name: at least two labels of letters, digits and inner hyphens. Requiring a
/// dot catches typos such as `organisations`, which would otherwise pass as a name.
pub fn is_domain(text: &str) -> bool {
    let labels: Vec<&str> = text.split('.').collect();
    text.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|label| {
            (1..=63).contains(&label.len())
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_and_domains_are_told_apart() {
        assert!(is_guid("aaaaaaaa-0000-4000-8000-000000000001"));
        assert!(!is_guid("aaaaaaaa-0000-4000-8000-00000000000"));
        assert!(!is_guid("aaaaaaaa_0000-4000-8000-000000000001"));
        assert!(is_domain("contoso.onmicrosoft.com"));
        assert!(!is_domain("organisations"));
        assert!(!is_domain("-bad.com"));
        assert!(!is_domain("a..b"));
    }
}
