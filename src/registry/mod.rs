//! Registry access.
