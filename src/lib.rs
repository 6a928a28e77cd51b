//! entrance: Microsoft sign-in in front of any web app.
//!
//! The life of one request, told in [`gateway::Gateway::handle`]:
//! 1. strip every identity header the client sent (all spellings) — [`identity`]
//! 2. own endpoints (`/oauth2/*`, `/healthz`, `/readyz`) — [`endpoints`]
//! 3. route = routes.match(normalized path) — [`policy`] (pure)
//! 4. identity = session cookie — [`session`]
//! 5. decision = policy::decide(route, identity) — [`policy`] (pure)
//! 6. Allow -> identity headers -> [`proxy`]; SignIn -> 302 or 401; Deny -> 403 page
//!
//! The local Microsoft identity emulator ([`emulator`]) is a separate module tree that shares no
//! validation code with the gateway.

pub mod admin;
pub mod bearer;
pub mod body;
pub mod check;
pub mod config;
pub mod demo;
pub mod emulator;
pub mod endpoints;
pub mod forwarded;
pub mod gateway;
pub mod identity;
pub mod logging;
pub mod metrics;
pub mod microsoft;
pub mod names;
pub mod oidc;
pub mod pages;
pub mod policy;
pub mod proxy;
pub mod redirect;
pub mod respond;
pub mod sample_app;
pub mod secret;
pub mod server;
pub mod session;
pub mod sites;
#[cfg(feature = "otel")]
pub mod telemetry;
pub mod tls;
pub mod upstream;
