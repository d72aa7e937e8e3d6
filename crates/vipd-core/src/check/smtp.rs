//! SMTP_CHECK's conversation, without IO: the server's banner must be 220,
//! our `HELO` must get 250, our `QUIT` ends it (RFC 5321). A reply may span
//! several lines (`250-...` continues, `250 ...` ends).

/// A complete reply: its code and text (the lines joined by spaces).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit code.
    pub code: u16,
    /// The text after the codes.
    pub text: String,
}

/// Why a reply cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// A line that is not `DDD[ -]text`.
    #[error("not an SMTP reply: {0:?}")]
    Garbage(String),
    /// The reply is longer than any server sends.
    #[error("SMTP reply longer than {0} bytes")]
    TooLong(usize),
}

/// The longest reply vipd reads (RFC 5321 allows 512-byte lines; a banner
/// has a few).
pub const MAX_REPLY: usize = 8192;

/// The first complete reply at the start of `buf`, with the bytes it used;
/// `Ok(None)` when more bytes are needed.
pub fn parse_reply(buf: &[u8]) -> Result<Option<(Reply, usize)>, ReplyError> {
    let mut used = 0;
    let mut text = Vec::new();
    loop {
        let rest = &buf[used..];
        let Some(end) = rest.iter().position(|&b| b == b'\n') else {
            if buf.len() > MAX_REPLY {
                return Err(ReplyError::TooLong(MAX_REPLY));
            }
            return Ok(None);
        };
        let line = String::from_utf8_lossy(&rest[..end]);
        let line = line.trim_end_matches('\r');
        used += end + 1;
        let bytes = line.as_bytes();
        let code = line
            .get(..3)
            .filter(|c| c.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| ReplyError::Garbage(line.to_owned()))?;
        text.push(line.get(4..).unwrap_or("").trim().to_owned());
        match bytes.get(3) {
            Some(b'-') => continue,
            Some(b' ') | None => {
                return Ok(Some((
                    Reply {
                        code,
                        text: text.join(" "),
                    },
                    used,
                )))
            }
            Some(_) => return Err(ReplyError::Garbage(line.to_owned())),
        }
    }
}

/// keepalived's default `helo_name`.
pub const DEFAULT_HELO: &str = "smtpchecker.keepalived.org";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_single_and_multi_line() {
        assert_eq!(parse_reply(b"220 mx ESMTP"), Ok(None));
        let (r, n) = parse_reply(b"220 mx ESMTP ready\r\nrest").unwrap().unwrap();
        assert_eq!((r.code, r.text.as_str(), n), (220, "mx ESMTP ready", 20));
        let (r, n) = parse_reply(b"250-mx\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            (r.code, r.text.as_str(), n),
            (250, "mx PIPELINING 8BITMIME", 38)
        );
        assert_eq!(parse_reply(b"250-mx\r\n250-more"), Ok(None));
        assert!(matches!(
            parse_reply(b"HTTP/1.1 400 Bad Request\r\n"),
            Err(ReplyError::Garbage(_))
        ));
        assert!(matches!(
            parse_reply(&vec![b'2'; MAX_REPLY + 1]),
            Err(ReplyError::TooLong(_))
        ));
        let (r, _) = parse_reply(b"221\r\n").unwrap().unwrap();
        assert_eq!(r.code, 221);
    }
}
