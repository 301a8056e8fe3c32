//! Pull credentials.
