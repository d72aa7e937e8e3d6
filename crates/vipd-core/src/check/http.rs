//! HTTP_GET / SSL_GET without the sockets: the request keepalived sends, and the
//! judgement of a reply (status code, MD5 digest of the body).
//!
//! The digest is computed exactly as keepalived's `check_http.c` (and so
//! `genhash`) does: MD5 over the bytes after the first `\r\n\r\n`, up to
//! `Content-Length` when the header gives one, else up to the end of the stream.
//! The body is hashed as received: a chunked body is hashed with its chunk
//! framing, as keepalived does.

use std::fmt::Write as _;
use std::net::SocketAddr;

use md5::{Digest, Md5};

use super::spec::{HttpProtocol, UrlSpec};

/// The `Host:` header keepalived sends: the virtual host if one is configured,
/// else `IP:PORT` of the target (`[IPv6]:PORT`).
pub fn host_header(virtualhost: Option<&str>, target: SocketAddr) -> String {
    match virtualhost {
        Some(v) => v.to_owned(),
        // Without the scope id of a link-local target: `%eth1` means nothing
        // to the server.
        None => SocketAddr::new(target.ip(), target.port()).to_string(),
    }
}

/// The GET request keepalived sends for `path`.
pub fn request(path: &str, host: &str, protocol: HttpProtocol) -> String {
    let (minor, close) = match protocol {
        HttpProtocol::Http10 => (0, ""),
        HttpProtocol::Http10Close => (0, "Connection: close\r\n"),
        HttpProtocol::Http11 => (1, "Connection: close\r\n"),
    };
    format!(
        "GET {path} HTTP/1.{minor}\r\nUser-Agent: KeepAliveClient\r\n{close}Host: {host}\r\n\r\n"
    )
}

/// Longest header block accepted before giving up on a reply.
pub const MAX_HEADER_LEN: usize = 64 * 1024;

/// What was read of a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Status code from the status line, if the header block was complete.
    pub status: Option<u16>,
    /// `Content-Length`, if given.
    pub content_length: Option<usize>,
    /// Body bytes received (all of them, even beyond `Content-Length`).
    pub body_len: usize,
    /// MD5 of the body as keepalived computes it.
    pub digest: [u8; 16],
    /// Did the header block end (`\r\n\r\n`) before the stream did?
    pub header_complete: bool,
}

/// Incremental reader of a reply stream: feed it what the socket gives.
#[derive(Debug, Clone, Default)]
pub struct ReplyReader {
    head: Vec<u8>,
    header_complete: bool,
    status: Option<u16>,
    content_length: Option<usize>,
    body_len: usize,
    hasher: Md5,
}

impl ReplyReader {
    /// An empty reader.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed received bytes. Returns an error when the header block exceeds
    /// [`MAX_HEADER_LEN`].
    pub fn feed(&mut self, data: &[u8]) -> Result<(), String> {
        if self.header_complete {
            self.body(data);
            return Ok(());
        }
        self.head.extend_from_slice(data);
        if let Some(end) = find(&self.head, b"\r\n\r\n") {
            let body = self.head.split_off(end + 4);
            self.header_complete = true;
            self.status = parse_status(&self.head);
            self.content_length = parse_content_length(&self.head);
            self.body(&body);
        } else if self.head.len() > MAX_HEADER_LEN {
            return Err(format!("HTTP header longer than {MAX_HEADER_LEN} bytes"));
        }
        Ok(())
    }

    /// True once the whole body announced by `Content-Length` has arrived: the
    /// reader can stop without waiting for the server to close.
    pub fn complete(&self) -> bool {
        matches!(self.content_length, Some(n) if self.header_complete && self.body_len >= n)
    }

    /// The reply so far.
    pub fn finish(self) -> Reply {
        Reply {
            status: self.status,
            content_length: self.content_length,
            body_len: self.body_len,
            digest: self.hasher.finalize().into(),
            header_complete: self.header_complete,
        }
    }

    fn body(&mut self, data: &[u8]) {
        let take = match self.content_length {
            Some(n) => data.len().min(n.saturating_sub(self.body_len)),
            None => data.len(),
        };
        self.hasher.update(&data[..take]);
        self.body_len += data.len();
    }
}

/// Judge a reply against one `url` block: `Ok(detail)` or `Err(reason)`.
pub fn judge(url: &UrlSpec, reply: &Reply) -> Result<String, String> {
    if !reply.header_complete {
        return Err(format!("{}: no complete HTTP reply received", url.path));
    }
    let Some(status) = reply.status else {
        return Err(format!("{}: malformed HTTP status line", url.path));
    };
    if !url.accepts_status(status) {
        return Err(format!("{}: HTTP status {status}", url.path));
    }
    if let Some(want) = url.digest {
        if want != reply.digest {
            return Err(format!(
                "{}: MD5 digest {} differs from the expected {}",
                url.path,
                hex(&reply.digest),
                hex(&want)
            ));
        }
    }
    Ok(format!("{}: HTTP status {status}", url.path))
}

/// Lower-case hex, as `genhash` prints a digest.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Parse a 32-digit hex MD5 digest (`digest` keyword).
pub fn parse_digest(s: &str) -> Option<[u8; 16]> {
    let s = s.trim();
    if s.len() != 32 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse_status(head: &[u8]) -> Option<u16> {
    let line_end = find(head, b"\r\n").unwrap_or(head.len());
    let line = std::str::from_utf8(&head[..line_end]).ok()?;
    let mut parts = line.split_ascii_whitespace();
    let version = parts.next()?;
    if !version.starts_with("HTTP/") {
        return None;
    }
    let code = parts.next()?;
    if code.len() != 3 {
        return None;
    }
    code.parse().ok()
}

fn parse_content_length(head: &[u8]) -> Option<usize> {
    let text = String::from_utf8_lossy(head);
    text.split("\r\n").skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        if name.trim().eq_ignore_ascii_case("content-length") {
            value.trim().parse().ok()
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md5(data: &[u8]) -> [u8; 16] {
        Md5::digest(data).into()
    }

    #[test]
    fn request_matches_keepalived_template() {
        let target: SocketAddr = "10.253.26.1:80".parse().unwrap();
        let host = host_header(None, target);
        assert_eq!(
            request("/", &host, HttpProtocol::Http10),
            "GET / HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 10.253.26.1:80\r\n\r\n"
        );
        assert_eq!(
            request("/x", "www.example.com", HttpProtocol::Http11),
            "GET /x HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: www.example.com\r\n\r\n"
        );
        let v6: SocketAddr = "[2001:db8::1]:8080".parse().unwrap();
        assert_eq!(host_header(None, v6), "[2001:db8::1]:8080");
    }

    #[test]
    fn digest_covers_body_only_in_any_split() {
        let reply = b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\nhello world\n";
        for split in 0..reply.len() {
            let mut r = ReplyReader::new();
            r.feed(&reply[..split]).unwrap();
            r.feed(&reply[split..]).unwrap();
            let rep = r.finish();
            assert_eq!(rep.status, Some(200));
            assert_eq!(rep.digest, md5(b"hello world\n"), "split at {split}");
            assert_eq!(rep.body_len, 12);
        }
    }

    #[test]
    fn digest_stops_at_content_length() {
        let mut r = ReplyReader::new();
        r.feed(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhel")
            .unwrap();
        assert!(!r.complete());
        r.feed(b"lo and trailing garbage").unwrap();
        assert!(r.complete());
        let rep = r.finish();
        assert_eq!(rep.content_length, Some(5));
        assert_eq!(rep.digest, md5(b"hello"));
    }

    #[test]
    fn empty_body_digest_is_md5_of_nothing() {
        let mut r = ReplyReader::new();
        r.feed(b"HTTP/1.0 204 No Content\r\n\r\n").unwrap();
        let rep = r.finish();
        assert_eq!(hex(&rep.digest), "d41d8cd98f00b204e9800998ecf8427e");
    }

    #[test]
    fn judge_status_and_digest() {
        let mut r = ReplyReader::new();
        r.feed(b"HTTP/1.0 200 OK\r\n\r\nabc").unwrap();
        let rep = r.finish();
        let mut url = UrlSpec::path("/");
        assert!(judge(&url, &rep).is_ok());
        url.digest = Some(md5(b"abc"));
        assert!(judge(&url, &rep).is_ok());
        url.digest = Some(md5(b"abd"));
        let e = judge(&url, &rep).unwrap_err();
        assert!(e.contains("MD5 digest"), "{e}");
        url.digest = None;
        url.status_codes = vec![301..=302];
        assert_eq!(judge(&url, &rep).unwrap_err(), "/: HTTP status 200");

        let mut r = ReplyReader::new();
        r.feed(b"HTTP/1.0 503 Busy\r\n\r\n").unwrap();
        assert!(judge(&UrlSpec::path("/"), &r.finish()).is_err());
        // Nothing, or a header that never ends, fails.
        assert!(judge(&UrlSpec::path("/"), &ReplyReader::new().finish()).is_err());
        let mut r = ReplyReader::new();
        r.feed(b"garbage").unwrap();
        assert!(judge(&UrlSpec::path("/"), &r.finish()).is_err());
        let mut r = ReplyReader::new();
        r.feed(b"FTP 200\r\n\r\n").unwrap();
        assert!(judge(&UrlSpec::path("/"), &r.finish()).is_err());
    }

    #[test]
    fn oversized_header_is_an_error() {
        let mut r = ReplyReader::new();
        let big = vec![b'a'; MAX_HEADER_LEN + 1];
        assert!(r.feed(&big).is_err());
    }

    #[test]
    fn digest_hex_round_trip() {
        let d = md5(b"x");
        assert_eq!(parse_digest(&hex(&d)), Some(d));
        assert_eq!(parse_digest(&hex(&d).to_uppercase()), Some(d));
        assert_eq!(parse_digest("abc"), None);
        assert_eq!(parse_digest(&"zz".repeat(16)), None);
    }
}
