//! A real redis-server on an ephemeral port, for the session-store tests.
