//! FILE_CHECK's verdict, without IO: keepalived's `track_file` semantics
//! (`track_file.c`, `check_file.c`) for the number a file holds.

use super::checker::Outcome;

/// What a `FILE_CHECK` follows and how it weighs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpec {
    /// The `track_file`'s name, for logs.
    pub name: String,
    /// The file.
    pub path: String,
    /// `weight` (FILE_CHECK's, else the track_file's).
    pub weight: i32,
    /// `weight N reverse`.
    pub reverse: bool,
    /// The real server's configured weight, which the file's value adjusts.
    pub base_weight: u32,
}

/// The number in a file as keepalived reads it (`strtol(buf, NULL, 0)`):
/// leading blanks, a sign, `0x` hex or `0` octal or decimal digits, anything
/// after them ignored; no digits (empty, unreadable, not a number) is 0.
pub fn read_value(text: &str) -> i64 {
    let t = text.trim_start();
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (radix, digits) = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        (16, h)
    } else if t.starts_with('0') {
        (8, t)
    } else {
        (10, t)
    };
    let end = digits
        .find(|c: char| !c.is_digit(radix))
        .unwrap_or(digits.len());
    let v =
        i64::from_str_radix(&digits[..end], radix).unwrap_or(if end == 0 { 0 } else { i64::MAX });
    if neg {
        -v
    } else {
        v
    }
}

/// The verdict on a file holding `text` (`None`: it cannot be read, which
/// keepalived counts as 0):
/// - weight 0: a non-zero value fails (with `reverse`, zero fails);
/// - else the real server's weight becomes `base + value x weight` (negated
///   with `reverse`), at least 0 (quiesced, still up), at most `i32::MAX`;
///   only a product at or below `i32::MIN` fails, as in keepalived.
pub fn judge(spec: &FileSpec, text: Option<&str>) -> Outcome {
    let value = text.map(read_value).unwrap_or(0);
    let detail = |what: String| {
        format!(
            "track_file {} ({}) holds {value}: {what}",
            spec.name, spec.path
        )
    };
    if spec.weight == 0 {
        let failed = (value != 0) != spec.reverse;
        return if failed {
            Outcome::fail(detail("fault".into()))
        } else {
            Outcome::pass_with(detail("ok".into()))
        };
    }
    let sign = if spec.reverse { -1 } else { 1 };
    let status = value
        .saturating_mul(i64::from(spec.weight))
        .saturating_mul(sign)
        .clamp(i64::from(i32::MIN), i64::from(i32::MAX));
    if status <= i64::from(i32::MIN) {
        return Outcome::fail(detail("fault".into()));
    }
    let weight = (i64::from(spec.base_weight) + status).clamp(0, i64::from(i32::MAX)) as u32;
    Outcome {
        weight: Some(weight),
        ..Outcome::pass_with(detail(format!("weight {weight}")))
    }
}

/// A file `init_file` writes at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitFile {
    /// The track_file's name.
    pub name: String,
    /// The file.
    pub path: String,
    /// What to write.
    pub value: i64,
    /// Write it even when the file exists.
    pub overwrite: bool,
}

/// What `init_file` writes at start, for every track_file that has it.
pub fn init_files(c: &crate::config::Config) -> Vec<InitFile> {
    c.track_files
        .iter()
        .filter_map(|t| {
            let (value, overwrite) = t.init_file?;
            Some(InitFile {
                name: t.name.clone(),
                path: t.file.clone()?,
                value,
                overwrite,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(weight: i32, reverse: bool) -> FileSpec {
        FileSpec {
            name: "maint".into(),
            path: "/run/maint".into(),
            weight,
            reverse,
            base_weight: 3,
        }
    }

    #[test]
    fn values_are_read_as_strtol_reads_them() {
        for (text, v) in [
            ("5\n", 5),
            ("  -7 apples", -7),
            ("0x10", 16),
            ("010", 8),
            ("", 0),
            ("maintenance", 0),
            ("+2", 2),
        ] {
            assert_eq!(read_value(text), v, "{text:?}");
        }
    }

    #[test]
    fn weight_zero_is_up_or_down() {
        assert!(judge(&spec(0, false), Some("0")).ok);
        assert!(!judge(&spec(0, false), Some("1")).ok);
        assert!(judge(&spec(0, false), None).ok, "missing reads as 0");
        assert!(!judge(&spec(0, true), Some("0")).ok, "reverse");
        assert!(judge(&spec(0, true), Some("4")).ok);
    }

    #[test]
    fn a_weight_adjusts_the_real_servers_weight() {
        let w = |s: &FileSpec, t| judge(s, Some(t)).weight;
        assert_eq!(w(&spec(2, false), "1"), Some(5), "3 + 1 x 2");
        assert_eq!(w(&spec(2, true), "1"), Some(1), "3 - 1 x 2");
        assert_eq!(w(&spec(1, false), "-10"), Some(0), "quiesced, not below 0");
        assert!(judge(&spec(1, false), Some("-10")).ok, "still up");
        assert!(
            !judge(&spec(2, false), Some("-2147483648")).ok,
            "the fault value"
        );
    }
}
