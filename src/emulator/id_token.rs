//! ID tokens: the v2.0 claim set Microsoft issues, deliberate damage for tests ([`Tamper`]),
//! and signing (RS256, or a hand-built `alg: none` token).
//!
//! Claim building is pure: the clock and every random value come in as arguments or are
//! generated here without I/O.

use std::time::SystemTime;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, Header};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::config::UserConfig;
use super::groups::insert_group_claims;
use super::keys::SigningKey;
use super::protocol::{guid, opaque, unix_now};
use super::Tamper;

/// ID token lifetime: Microsoft's default, one hour.
pub(crate) const LIFETIME_SECS: i64 = 3600;

/// What an ID token is about.
pub(crate) struct IdTokenInput<'a> {
    pub authority: &'a str,
    pub client_id: &'a str,
    pub user: &'a UserConfig,
    /// From /authorize; refreshed tokens carry none.
    pub nonce: Option<&'a str>,
    pub scopes: &'a [String],
    /// Per sign-in session GUID (`sid`).
    pub sid: &'a str,
    pub now: SystemTime,
}

/// Pairwise `sub`: stable per (user, app, tenant), different across apps, not reversible.
pub(crate) fn pairwise_sub(oid: &str, client_id: &str, tid: &str) -> String {
    let seed = format!(
        "{}:{}:{}",
        oid.to_ascii_lowercase(),
        client_id.to_ascii_lowercase(),
        tid.to_ascii_lowercase()
    );
    URL_SAFE_NO_PAD.encode(Sha256::digest(seed.as_bytes()))
}

/// The `login_hint` claim of every token of sign-in session `sid`: opaque, `O.`-prefixed like
/// Microsoft's, and derived from the sid so a `logout_hint` leads back to its sign-in.
/// Deliberate deviation: Microsoft's value names the account, not one sign-in session.
pub(crate) fn login_hint(sid: &str) -> String {
    let digest = Sha256::digest(format!("login_hint:{sid}").as_bytes());
    format!("O.{}", URL_SAFE_NO_PAD.encode(digest))
}

/// The v2.0 ID token claims. `oid`, `name` and `preferred_username` need the `profile` scope and
/// `email` the `email` scope, as at Microsoft.
pub(crate) fn claims(input: &IdTokenInput<'_>) -> Map<String, Value> {
    let now = unix_now(input.now);
    let user = input.user;
    let has = |s: &str| input.scopes.iter().any(|x| x == s);
    let mut c = Map::new();
    c.insert("aud".into(), json!(input.client_id));
    c.insert(
        "iss".into(),
        json!(format!("{}/{}/v2.0", input.authority, user.tenant)),
    );
    c.insert("iat".into(), json!(now));
    c.insert("nbf".into(), json!(now));
    c.insert("exp".into(), json!(now + LIFETIME_SECS));
    c.insert("aio".into(), json!(opaque(48)));
    if let Some(nonce) = input.nonce {
        c.insert("nonce".into(), json!(nonce));
    }
    if has("profile") {
        c.insert("name".into(), json!(user.name));
        c.insert("oid".into(), json!(user.oid));
        c.insert("preferred_username".into(), json!(user.username));
    }
    if has("email") {
        if let Some(email) = &user.email {
            c.insert("email".into(), json!(email));
        }
    }
    insert_group_claims(&mut c, user);
    if !user.roles.is_empty() {
        c.insert("roles".into(), json!(user.roles));
    }
    // The optional claim Microsoft documents for `logout_hint` at sign-out.
    c.insert("login_hint".into(), json!(login_hint(input.sid)));
    c.insert("rh".into(), json!(format!("0.{}.", opaque(40))));
    c.insert("sid".into(), json!(input.sid));
    c.insert(
        "sub".into(),
        json!(pairwise_sub(&user.oid, input.client_id, &user.tenant)),
    );
    c.insert("tid".into(), json!(user.tenant));
    c.insert("uti".into(), json!(opaque(16)));
    c.insert("ver".into(), json!("2.0"));
    c
}

/// Damage the claims for a [`Tamper`]. `other_tid` is a tenant GUID different from the token's.
/// Signature-level tampers (`UnknownKey`, `AlgNone`) leave the claims alone.
pub(crate) fn tamper_claims(
    c: &mut Map<String, Value>,
    tamper: Tamper,
    authority: &str,
    other_tid: &str,
) {
    let iat = c.get("iat").and_then(Value::as_i64).unwrap_or(0);
    match tamper {
        Tamper::WrongAudience => {
            c.insert("aud".into(), json!(guid()));
        }
        Tamper::WrongIssuer => {
            // The real cloud's host: the classic "authority configured for the wrong host" case.
            let tid = c
                .get("tid")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            c.insert(
                "iss".into(),
                json!(format!("https://login.microsoftonline.com/{tid}/v2.0")),
            );
        }
        Tamper::IssuerTenantMismatch => {
            c.insert("iss".into(), json!(format!("{authority}/{other_tid}/v2.0")));
        }
        Tamper::Expired => {
            c.insert("iat".into(), json!(iat - 2 * LIFETIME_SECS));
            c.insert("nbf".into(), json!(iat - 2 * LIFETIME_SECS));
            c.insert("exp".into(), json!(iat - LIFETIME_SECS));
        }
        Tamper::NotYetValid => {
            c.insert("nbf".into(), json!(iat + LIFETIME_SECS));
            c.insert("exp".into(), json!(iat + 2 * LIFETIME_SECS));
        }
        Tamper::WrongNonce => {
            c.insert("nonce".into(), json!(opaque(16)));
        }
        Tamper::MissingTid => {
            c.remove("tid");
        }
        Tamper::UnknownKey | Tamper::AlgNone => {}
    }
}

/// RS256 with `typ: JWT` and the key's `kid`.
pub(crate) fn sign(
    claims: &Map<String, Value>,
    key: &SigningKey,
) -> Result<String, jsonwebtoken::errors::Error> {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.encoding)
}

/// An unsecured JWT (`alg: none`, empty signature), built by hand because jsonwebtoken refuses to.
pub(crate) fn unsigned(claims: &Map<String, Value>) -> String {
    let header = json!({"typ": "JWT", "alg": "none"});
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(Value::Object(claims.clone()).to_string())
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::emulator::config::EmulatorConfig;
    use crate::emulator::defaults as d;

    fn alice_claims(scopes: &[&str]) -> Map<String, Value> {
        let config = EmulatorConfig::default();
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        claims(&IdTokenInput {
            authority: "http://127.0.0.1:1",
            client_id: d::CLIENT_ID,
            user: config.user(d::ALICE).unwrap(),
            nonce: Some("n-1"),
            scopes: &scopes,
            sid: "s",
            now: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000),
        })
    }

    #[test]
    fn claims_follow_the_scopes() {
        let full = alice_claims(&["openid", "profile", "email"]);
        assert_eq!(
            full["iss"],
            format!("http://127.0.0.1:1/{}/v2.0", d::CONTOSO_TID)
        );
        assert_eq!(full["exp"], 1_003_600);
        assert_eq!(full["oid"], d::ALICE_OID);
        assert_eq!(full["email"], d::ALICE);
        assert_eq!(
            full["groups"],
            json!([d::ENGINEERING_GROUP, d::ALL_STAFF_GROUP])
        );
        assert_eq!(full["roles"], json!(["Admin"]));
        let bare = alice_claims(&["openid"]);
        assert!(bare.get("email").is_none() && bare.get("preferred_username").is_none());
        assert_eq!(bare["nonce"], "n-1");
    }

    #[test]
    fn sub_is_pairwise_per_app() {
        let a = pairwise_sub(d::ALICE_OID, d::CLIENT_ID, d::CONTOSO_TID);
        assert_eq!(
            a,
            pairwise_sub(d::ALICE_OID, &d::CLIENT_ID.to_uppercase(), d::CONTOSO_TID)
        );
        assert_ne!(
            a,
            pairwise_sub(d::ALICE_OID, d::FABRIKAM_TID, d::CONTOSO_TID)
        );
        assert_ne!(a, d::ALICE_OID);
    }

    #[test]
    fn every_claim_tamper_changes_the_claims() {
        let claim_tampers = [
            Tamper::WrongAudience,
            Tamper::WrongIssuer,
            Tamper::IssuerTenantMismatch,
            Tamper::Expired,
            Tamper::NotYetValid,
            Tamper::WrongNonce,
            Tamper::MissingTid,
        ];
        for t in claim_tampers {
            let original = alice_claims(&["openid", "profile"]);
            let mut damaged = original.clone();
            tamper_claims(&mut damaged, t, "http://127.0.0.1:1", d::FABRIKAM_TID);
            assert_ne!(original, damaged, "{t:?}");
        }
        let mut expired = alice_claims(&["openid"]);
        tamper_claims(&mut expired, Tamper::Expired, "", "");
        assert_eq!(expired["exp"], 1_000_000 - 3600);
    }

    #[test]
    fn unsigned_token_has_alg_none_and_empty_signature() {
        let jwt = unsigned(&alice_claims(&["openid"]));
        let header = jwt.split('.').next().unwrap();
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
        assert_eq!(header["alg"], "none");
        assert!(jwt.ends_with('.'));
    }
}
