//! The target of a bench run: `http://host[:port]/path`, as webbench accepts it.

use std::fmt;

/// Why a URL cannot be benchmarked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Only plain `http://` is spoken; TLS would measure the TLS library, not the path.
    #[error("`{0}`: only http:// URLs are supported (write e.g. http://10.253.85.250/)")]
    Scheme(String),
    /// Nothing between `http://` and the path.
    #[error("`{0}`: the URL has no host (write e.g. http://127.0.0.1:8080/)")]
    NoHost(String),
    /// The port is not a number in 1..=65535.
    #[error("`{0}`: bad port `{1}` (a number in 1..=65535)")]
    Port(String, String),
    /// An IPv6 literal opened with `[` but never closed.
    #[error("`{0}`: unterminated IPv6 literal (write http://[::1]:8080/)")]
    Bracket(String),
}

/// A parsed `http://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Host as written, without brackets for IPv6 literals (for name resolution).
    pub host: String,
    /// TCP port (80 when the URL names none).
    pub port: u16,
    /// Path and query, always starting with `/`.
    pub path: String,
    /// The authority as written (`host[:port]`), which is what `Host:` carries.
    pub authority: String,
}

impl Target {
    /// Parse a URL such as `http://10.253.85.250/`, `http://[::1]:8080/x?y`.
    pub fn parse(url: &str) -> Result<Target, UrlError> {
        let rest = strip_prefix_ci(url, "http://").ok_or_else(|| UrlError::Scheme(url.into()))?;
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_string()),
        };
        if authority.is_empty() {
            return Err(UrlError::NoHost(url.into()));
        }
        let (host, port_text) = if let Some(v6) = authority.strip_prefix('[') {
            let end = v6.find(']').ok_or_else(|| UrlError::Bracket(url.into()))?;
            let after = &v6[end + 1..];
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(UrlError::Port(url.into(), after.into())),
            };
            (&v6[..end], port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(UrlError::NoHost(url.into()));
        }
        let port = match port_text {
            None => 80,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 => n,
                _ => return Err(UrlError::Port(url.into(), p.into())),
            },
        };
        Ok(Target {
            host: host.to_string(),
            port,
            path,
            authority: authority.to_string(),
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.authority, self.path)
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_forms_webbench_users_write() {
        let t = Target::parse("http://10.253.85.250/").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("10.253.85.250", 80, "/")
        );
        let t = Target::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            (t.port, t.path.as_str(), t.authority.as_str()),
            (8080, "/", "127.0.0.1:8080")
        );
        let t = Target::parse("HTTP://[::1]:81/a/b?c=d").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("::1", 81, "/a/b?c=d")
        );
        assert_eq!(t.authority, "[::1]:81");
        let t = Target::parse("http://example.test?q").unwrap();
        assert_eq!(t.path, "/?q");
        assert_eq!(t.to_string(), "http://example.test/?q");
    }

    #[test]
    fn rejects_what_it_cannot_bench() {
        assert!(matches!(
            Target::parse("https://a/"),
            Err(UrlError::Scheme(_))
        ));
        assert!(matches!(Target::parse("a/"), Err(UrlError::Scheme(_))));
        assert!(matches!(
            Target::parse("http:///x"),
            Err(UrlError::NoHost(_))
        ));
        assert!(matches!(
            Target::parse("http://a:0/"),
            Err(UrlError::Port(..))
        ));
        assert!(matches!(
            Target::parse("http://a:99999/"),
            Err(UrlError::Port(..))
        ));
        assert!(matches!(
            Target::parse("http://a:/"),
            Err(UrlError::Port(..))
        ));
        assert!(matches!(
            Target::parse("http://[::1/"),
            Err(UrlError::Bracket(_))
        ));
        assert!(matches!(
            Target::parse("http://[::1]x/"),
            Err(UrlError::Port(..))
        ));
    }
}
