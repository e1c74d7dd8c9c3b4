//! Parses docker's memory sizes ("64m", "1g", "512k", "1.5GiB", "1024").

use super::CgroupError;

/// Bytes from a docker-style size: a number with an optional binary unit
/// (b, k, m, g, t, p; an optional "b"/"ib" suffix; case-insensitive). Like
/// docker's `RAMInBytes`, "1k" is 1024 bytes and fractions are allowed.
pub fn parse_memory(s: &str) -> Result<u64, CgroupError> {
    let invalid = |reason: &str| CgroupError::InvalidMemory {
        input: s.to_string(),
        reason: reason.to_string(),
    };
    let text = s.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    if number.is_empty() {
        return Err(invalid("it must start with a number"));
    }
    let value: f64 = number
        .parse()
        .map_err(|_| invalid("the number is malformed"))?;
    let unit = unit.trim_start().to_ascii_lowercase();
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b'))
        .unwrap_or(&unit);
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ => return Err(invalid("unknown unit; use b, k, m, g, t or p")),
    };
    let bytes = value * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(invalid("it is too large"));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_sizes() {
        assert_eq!(parse_memory("1024").expect("size"), 1024);
        assert_eq!(parse_memory("512k").expect("size"), 512 * 1024);
        assert_eq!(parse_memory("64m").expect("size"), 64 << 20);
        assert_eq!(parse_memory("64M").expect("size"), 64 << 20);
        assert_eq!(parse_memory("64mb").expect("size"), 64 << 20);
        assert_eq!(parse_memory("1g").expect("size"), 1 << 30);
        assert_eq!(parse_memory("1.5GiB").expect("size"), 3 << 29);
        assert_eq!(parse_memory("10 b").expect("size"), 10);
    }

    #[test]
    fn bad_sizes_are_errors() {
        for bad in ["", "m", "-1m", "1x", "1.2.3m", "99999999999p", "1 mm"] {
            let err = parse_memory(bad).expect_err(bad);
            assert!(err.to_string().contains("invalid memory size"), "{err}");
        }
    }
}
