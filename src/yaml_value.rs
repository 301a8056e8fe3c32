//! YAML (or JSON) text to `serde_json::Value`, for configuration files.
