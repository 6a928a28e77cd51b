//! Real nginx in front of entrance, for the forward-auth tests (work in progress).
