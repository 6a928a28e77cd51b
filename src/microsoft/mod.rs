//! What is Microsoft-specific: the sovereign clouds and their hosts ([`cloud`], the only place a
//! Microsoft host is written down), AADSTS explanations ([`aadsts`]), the app's client
//! credentials ([`credential`]) and the Microsoft Graph call that resolves groups overage
//! ([`graph`]).
//!
//! Must not: know about sessions, cookies or the request path; [`cloud`] and [`aadsts`] stay pure.

pub mod aadsts;
pub mod cloud;
pub mod credential;
pub mod graph;

pub use aadsts::{aadsts_code, ends_session, explain, known_error, Explanation};
pub use cloud::Cloud;
pub use credential::{ClientCredential, CredentialError};
pub use graph::{Graph, GraphError};
