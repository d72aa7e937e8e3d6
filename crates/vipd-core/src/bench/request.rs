//! The one request a bench run sends again and again, built once as bytes.

use super::url::Target;

/// HTTP version spoken on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum HttpVersion {
    /// HTTP/1.0: webbench's default; the server closes after each response.
    #[serde(rename = "HTTP/1.0")]
    Http10,
    /// HTTP/1.1.
    #[serde(rename = "HTTP/1.1")]
    Http11,
}

impl HttpVersion {
    /// The version as it appears on the request line.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpVersion::Http10 => "HTTP/1.0",
            HttpVersion::Http11 => "HTTP/1.1",
        }
    }
}

/// What to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSpec {
    /// Method token, e.g. `GET`, `HEAD`, `POST`.
    pub method: String,
    /// Where to send it.
    pub target: Target,
    /// Version on the request line.
    pub version: HttpVersion,
    /// Keep the connection open for the next request (`-k`).
    pub keep_alive: bool,
    /// Bytes of request body (`x` repeated), announced by Content-Length.
    pub body_size: usize,
}

impl RequestSpec {
    /// Whether the response to this request has no body whatever its headers say.
    pub fn is_head(&self) -> bool {
        self.method.eq_ignore_ascii_case("HEAD")
    }

    /// The request's bytes. `Connection:` is sent only where the version's default
    /// differs from what `-k` asks: `close` on HTTP/1.1 without `-k`, `keep-alive`
    /// on HTTP/1.0 with `-k`; HTTP/1.0 without `-k` is webbench's request exactly
    /// apart from the User-Agent.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut head = format!(
            "{} {} {}\r\nHost: {}\r\nUser-Agent: vipd-bench/{}\r\n",
            self.method,
            self.target.path,
            self.version.as_str(),
            self.target.authority,
            env!("CARGO_PKG_VERSION"),
        );
        match (self.version, self.keep_alive) {
            (HttpVersion::Http11, false) => head.push_str("Connection: close\r\n"),
            (HttpVersion::Http10, true) => head.push_str("Connection: keep-alive\r\n"),
            _ => {}
        }
        if self.body_size > 0 {
            head.push_str(&format!(
                "Content-Type: application/octet-stream\r\nContent-Length: {}\r\n",
                self.body_size
            ));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.resize(bytes.len() + self.body_size, b'x');
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(version: HttpVersion, keep_alive: bool, body_size: usize) -> RequestSpec {
        RequestSpec {
            method: "GET".into(),
            target: Target::parse("http://10.0.0.1:8080/x").unwrap(),
            version,
            keep_alive,
            body_size,
        }
    }

    #[test]
    fn connection_header_only_where_default_differs() {
        let v = env!("CARGO_PKG_VERSION");
        let b = spec(HttpVersion::Http10, false, 0).to_bytes();
        assert_eq!(
            String::from_utf8(b).unwrap(),
            format!("GET /x HTTP/1.0\r\nHost: 10.0.0.1:8080\r\nUser-Agent: vipd-bench/{v}\r\n\r\n")
        );
        let b = String::from_utf8(spec(HttpVersion::Http11, false, 0).to_bytes()).unwrap();
        assert!(b.contains("Connection: close\r\n"));
        let b = String::from_utf8(spec(HttpVersion::Http11, true, 0).to_bytes()).unwrap();
        assert!(!b.contains("Connection"));
        let b = String::from_utf8(spec(HttpVersion::Http10, true, 0).to_bytes()).unwrap();
        assert!(b.contains("Connection: keep-alive\r\n"));
    }

    #[test]
    fn body_is_announced_and_sent() {
        let b = spec(HttpVersion::Http11, true, 5).to_bytes();
        let s = String::from_utf8(b).unwrap();
        assert!(s.contains("Content-Length: 5\r\n"));
        assert!(s.ends_with("\r\n\r\nxxxxx"));
    }
}
