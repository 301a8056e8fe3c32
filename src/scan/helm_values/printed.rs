//! What Helm prints for a values scalar that YAML does not read as a
//! string.
//!
//! Helm reads a values file through `sigs.k8s.io/yaml` (go-yaml v2, YAML
//! 1.1, then JSON), so every unquoted number becomes a float64, and a
//! template prints it with Go's `%v`: the shortest digits that read back
//! as the same float, in exponent form from a million up (`1234567` prints
//! `1.234567e+06`) or below 0.0001. `1.37` prints `1.37`, but `1.10`
//! prints `1.1`, `1.0` prints `1`, `010` (octal) prints `8`, `1_000`
//! prints `1000`.

/// The text Helm prints for `value`, a plain scalar that go-yaml reads as
/// a number, when it is the text as written; `None` when Helm prints
/// something else (or when the number is not one this reads exactly).
pub(super) fn number_printed_as_written(value: &str) -> Option<&str> {
    // Only plain decimal digits with at most one point are compared; any
    // other form (`1e3`, `0x1F`, `1_0`, `+1`, `.5`) prints differently.
    let (int, frac) = match value.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (value, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || frac.is_some_and(|f| !digits(f)) {
        return None;
    }
    // `%v` drops a fraction's trailing zeros and an integer's leading
    // ones (go-yaml reads a leading zero as octal anyway).
    if (int.len() > 1 && int.starts_with('0')) || frac.is_some_and(|f| f.ends_with('0')) {
        return None;
    }
    let v: f64 = value.parse().ok()?;
    // Shortest round-trip digits (Rust's `Display` for f64 is exactly
    // that, never in exponent form).
    if v.to_string() != value {
        return None;
    }
    // The decimal exponent of the leading digit: Go prints in exponent
    // form when it is below -4 or 6 and above.
    let exponent = if int != "0" {
        int.len() as i64 - 1
    } else {
        let f = frac.unwrap_or("");
        -(f.len() as i64 - f.trim_start_matches('0').len() as i64) - 1
    };
    (v != 0.0 && (-4..6).contains(&exponent) || v == 0.0 && value == "0").then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_helm_prints_as_written() {
        for v in [
            "1.37", "0.1", "2", "123456", "3.14159", "0.0001", "0", "10", "1.5",
        ] {
            assert_eq!(number_printed_as_written(v), Some(v), "{v}");
        }
        // `1.1`, `1`, `8`, `1000`, `1.234567e+06`, `1e-05`, ...
        for v in [
            "1.10",
            "1.0",
            "010",
            "1_000",
            "1234567",
            "1000000",
            "0.00001",
            "1e3",
            ".5",
            "+1",
            "-1",
            "0x1F",
            "1.",
            "12345678901234567890",
            "0.30000000000000001",
        ] {
            assert_eq!(number_printed_as_written(v), None, "{v}");
        }
    }
}
