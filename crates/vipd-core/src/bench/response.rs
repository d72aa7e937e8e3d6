//! An incremental HTTP/1.x response parser for the load generator.
//!
//! It only finds where a response ends (RFC 9112 §6.3 message body length) and
//! what its status and connection persistence are; it does not keep the body.
//! Feed it whatever the socket returned; it says how many of those bytes belonged
//! to the response once the response is complete. Parsing never panics, whatever
//! the server sends.

/// Longest response head (status line + headers) accepted.
pub const MAX_HEAD: usize = 64 * 1024;

/// Why a response is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    /// The status line is not `HTTP/1.x NNN ...`.
    #[error("bad status line")]
    StatusLine,
    /// A header line has no colon, or a Content-Length is not a number.
    #[error("bad header: {0}")]
    Header(&'static str),
    /// The head is longer than [`MAX_HEAD`].
    #[error("response head longer than {MAX_HEAD} bytes")]
    HeadTooLong,
    /// A chunk-size line is not hexadecimal, or the framing bytes are wrong.
    #[error("bad chunked encoding: {0}")]
    Chunked(&'static str),
    /// The connection ended before the response did.
    #[error("connection closed before the response was complete")]
    Incomplete,
}

/// How the body's end is found (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// HEAD, 1xx, 204, 304: the head is the whole response.
    None,
    /// Exactly this many bytes follow the head.
    Length(u64),
    /// Transfer-Encoding: chunked.
    Chunked,
    /// Everything until the server closes the connection.
    UntilClose,
}

/// What the head said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Status code.
    pub status: u16,
    /// Whether the server will keep the connection open after this response.
    pub keep_alive: bool,
    /// How the body ends.
    pub body: BodyKind,
}

/// Result of feeding bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// All bytes fed so far belong to a response that is not complete yet.
    NeedMore,
    /// The response is complete; only the first `consumed` bytes of the last feed
    /// belonged to it.
    Done {
        /// Bytes of the last `feed` that were part of the response.
        consumed: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Reading hex digits of a chunk size; `any` once one digit is seen.
    Size { value: u64, any: bool },
    /// After the size digits: extensions or whitespace until LF.
    SizeRest { value: u64 },
    /// Inside chunk data.
    Data { left: u64 },
    /// Expecting the CR (or bare LF) ending a chunk's data.
    DataEnd,
    /// Expecting the LF after that CR.
    DataLf,
    /// At the start of a trailer line (an empty line ends the message).
    TrailerStart,
    /// Saw CR at the start of a trailer line: expecting the final LF.
    TrailerCr,
    /// Inside a trailer line.
    TrailerLine,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Head,
    Body { left: u64 },
    Chunked(Chunk),
    UntilClose,
    Done,
}

/// Parses one response at a time; [`Parser::reset`] prepares for the next.
#[derive(Debug, Clone)]
pub struct Parser {
    head_only: bool,
    state: State,
    /// Head bytes carried over from earlier feeds when the head spans reads.
    buf: Vec<u8>,
    head: Option<Head>,
}

impl Parser {
    /// A parser for the response to a request; `head_request` for HEAD.
    pub fn new(head_request: bool) -> Parser {
        Parser {
            head_only: head_request,
            state: State::Head,
            buf: Vec::new(),
            head: None,
        }
    }

    /// Forget the previous response (keeps the buffer's allocation).
    pub fn reset(&mut self) {
        self.state = State::Head;
        self.buf.clear();
        self.head = None;
    }

    /// The parsed head, once seen.
    pub fn head(&self) -> Option<Head> {
        self.head
    }

    /// Whether any byte of the response has been seen.
    pub fn started(&self) -> bool {
        self.head.is_some() || !self.buf.is_empty()
    }

    /// Feed bytes read from the socket.
    pub fn feed(&mut self, data: &[u8]) -> Result<Progress, ResponseError> {
        let mut pos = 0;
        loop {
            match &mut self.state {
                State::Done => return Ok(Progress::Done { consumed: pos }),
                State::Head => {
                    let used = self.feed_head(&data[pos..])?;
                    match used {
                        None => return Ok(Progress::NeedMore),
                        Some(n) => pos += n,
                    }
                }
                State::Body { left } => {
                    let take = (data.len() - pos).min(usize::try_from(*left).unwrap_or(usize::MAX));
                    *left -= take as u64;
                    pos += take;
                    if *left == 0 {
                        self.state = State::Done;
                    } else {
                        return Ok(Progress::NeedMore);
                    }
                }
                State::UntilClose => return Ok(Progress::NeedMore),
                State::Chunked(c) => {
                    let (used, done) = feed_chunked(c, &data[pos..])?;
                    pos += used;
                    if done {
                        self.state = State::Done;
                    } else {
                        return Ok(Progress::NeedMore);
                    }
                }
            }
        }
    }

    /// The server closed the connection (read returned 0). Completes a
    /// close-delimited body; anything else unfinished is [`ResponseError::Incomplete`].
    pub fn eof(&mut self) -> Result<(), ResponseError> {
        match self.state {
            State::UntilClose | State::Done => {
                self.state = State::Done;
                Ok(())
            }
            _ => Err(ResponseError::Incomplete),
        }
    }

    /// Returns the bytes of `data` used when the head completed within it.
    fn feed_head(&mut self, data: &[u8]) -> Result<Option<usize>, ResponseError> {
        if self.buf.is_empty() {
            // Common case: the whole head arrives in one read; parse in place.
            if let Some(end) = find_head_end(data, 0) {
                self.start_body(&data[..end])?;
                return Ok(Some(end));
            }
            if data.len() > MAX_HEAD {
                return Err(ResponseError::HeadTooLong);
            }
            self.buf.extend_from_slice(data);
            return Ok(None);
        }
        let old = self.buf.len();
        let room = MAX_HEAD + 4 - old;
        self.buf.extend_from_slice(&data[..data.len().min(room)]);
        match find_head_end(&self.buf, old.saturating_sub(3)) {
            Some(end) => {
                let head = std::mem::take(&mut self.buf);
                self.start_body(&head[..end])?;
                self.buf = head;
                self.buf.clear();
                Ok(Some(end - old))
            }
            None if self.buf.len() > MAX_HEAD => Err(ResponseError::HeadTooLong),
            None => Ok(None),
        }
    }

    fn start_body(&mut self, head: &[u8]) -> Result<(), ResponseError> {
        let h = parse_head(head, self.head_only)?;
        if (100..200).contains(&h.status) {
            // An interim response (e.g. 100 Continue): the real one follows.
            self.state = State::Head;
            return Ok(());
        }
        self.head = Some(h);
        self.state = match h.body {
            BodyKind::None | BodyKind::Length(0) => State::Done,
            BodyKind::Length(n) => State::Body { left: n },
            BodyKind::Chunked => State::Chunked(Chunk::Size {
                value: 0,
                any: false,
            }),
            BodyKind::UntilClose => State::UntilClose,
        };
        Ok(())
    }
}

/// Index just past the blank line ending the head (CRLFCRLF, or bare LFLF).
fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i < buf.len() {
        if buf[i] == b'\n' {
            if buf.get(i + 1) == Some(&b'\n') {
                return Some(i + 2);
            }
            if buf.get(i + 1) == Some(&b'\r') && buf.get(i + 2) == Some(&b'\n') {
                return Some(i + 3);
            }
        }
        i += 1;
    }
    None
}

fn parse_head(head: &[u8], head_only: bool) -> Result<Head, ResponseError> {
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let status_line = lines.next().ok_or(ResponseError::StatusLine)?;
    let (minor, status) = parse_status_line(status_line)?;
    let mut keep_alive = minor >= 1;
    let mut length: Option<u64> = None;
    let mut chunked = false;
    for line in lines {
        if line.is_empty() {
            break;
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or(ResponseError::Header("no colon"))?;
        let name = &line[..colon];
        let value = trim(&line[colon + 1..]);
        if name.eq_ignore_ascii_case(b"content-length") {
            let n = parse_decimal(value)
                .ok_or(ResponseError::Header("Content-Length is not a number"))?;
            if length.is_some_and(|old| old != n) {
                return Err(ResponseError::Header("conflicting Content-Length values"));
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            // Chunked must be the last coding (RFC 9112 §6.3 item 4).
            chunked = value
                .rsplit(|&b| b == b',')
                .next()
                .is_some_and(|last| trim(last).eq_ignore_ascii_case(b"chunked"));
            if !chunked {
                keep_alive = false;
            }
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in value.split(|&b| b == b',') {
                let token = trim(token);
                if token.eq_ignore_ascii_case(b"close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && minor == 0 {
                    keep_alive = true;
                }
            }
        }
    }
    let body = if head_only || (100..200).contains(&status) || status == 204 || status == 304 {
        BodyKind::None
    } else if chunked {
        BodyKind::Chunked
    } else if let Some(n) = length {
        BodyKind::Length(n)
    } else {
        keep_alive = false;
        BodyKind::UntilClose
    };
    Ok(Head {
        status,
        keep_alive,
        body,
    })
}

fn parse_status_line(line: &[u8]) -> Result<(u8, u16), ResponseError> {
    let rest = line
        .strip_prefix(b"HTTP/1.")
        .ok_or(ResponseError::StatusLine)?;
    let (&minor, rest) = rest.split_first().ok_or(ResponseError::StatusLine)?;
    if !minor.is_ascii_digit() || rest.first() != Some(&b' ') || rest.len() < 4 {
        return Err(ResponseError::StatusLine);
    }
    let code = &rest[1..4];
    if !code.iter().all(u8::is_ascii_digit) || rest.get(4).is_some_and(|&b| b != b' ') {
        return Err(ResponseError::StatusLine);
    }
    let status = code.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    Ok((minor - b'0', status))
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

/// Advance the chunked-body state machine; returns (bytes used, message done).
fn feed_chunked(c: &mut Chunk, data: &[u8]) -> Result<(usize, bool), ResponseError> {
    let mut i = 0;
    while i < data.len() {
        let b = data[i];
        match *c {
            Chunk::Size { value, any } => {
                if let Some(d) = (b as char).to_digit(16) {
                    let v = value
                        .checked_mul(16)
                        .and_then(|v| v.checked_add(u64::from(d)))
                        .ok_or(ResponseError::Chunked("chunk size overflows"))?;
                    *c = Chunk::Size {
                        value: v,
                        any: true,
                    };
                } else if !any {
                    return Err(ResponseError::Chunked("chunk size is not hexadecimal"));
                } else if b == b'\n' {
                    *c = after_size_line(value);
                } else {
                    *c = Chunk::SizeRest { value };
                }
                i += 1;
            }
            Chunk::SizeRest { value } => {
                if b == b'\n' {
                    *c = after_size_line(value);
                }
                i += 1;
            }
            Chunk::Data { left } => {
                let take = (data.len() - i).min(usize::try_from(left).unwrap_or(usize::MAX));
                i += take;
                let left = left - take as u64;
                *c = if left == 0 {
                    Chunk::DataEnd
                } else {
                    Chunk::Data { left }
                };
            }
            Chunk::DataEnd => {
                *c = match b {
                    b'\r' => Chunk::DataLf,
                    b'\n' => Chunk::Size {
                        value: 0,
                        any: false,
                    },
                    _ => return Err(ResponseError::Chunked("chunk data not followed by CRLF")),
                };
                i += 1;
            }
            Chunk::DataLf => {
                if b != b'\n' {
                    return Err(ResponseError::Chunked("chunk data not followed by CRLF"));
                }
                *c = Chunk::Size {
                    value: 0,
                    any: false,
                };
                i += 1;
            }
            Chunk::TrailerStart => {
                i += 1;
                match b {
                    b'\n' => return Ok((i, true)),
                    b'\r' => *c = Chunk::TrailerCr,
                    _ => *c = Chunk::TrailerLine,
                }
            }
            Chunk::TrailerCr => {
                i += 1;
                if b == b'\n' {
                    return Ok((i, true));
                }
                return Err(ResponseError::Chunked("bad trailer section end"));
            }
            Chunk::TrailerLine => {
                if b == b'\n' {
                    *c = Chunk::TrailerStart;
                }
                i += 1;
            }
        }
    }
    Ok((i, false))
}

fn after_size_line(size: u64) -> Chunk {
    if size == 0 {
        Chunk::TrailerStart
    } else {
        Chunk::Data { left: size }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `bytes` split at every `step`; returns (head, bytes consumed in total).
    fn parse_in_steps(
        bytes: &[u8],
        step: usize,
        head_req: bool,
    ) -> Result<(Head, usize), ResponseError> {
        let mut p = Parser::new(head_req);
        let mut total = 0;
        for piece in bytes.chunks(step) {
            match p.feed(piece)? {
                Progress::NeedMore => total += piece.len(),
                Progress::Done { consumed } => return Ok((p.head().unwrap(), total + consumed)),
            }
        }
        p.eof()?;
        Ok((p.head().unwrap(), total))
    }

    fn all_steps(bytes: &[u8], head_req: bool) -> (Head, usize) {
        let first = parse_in_steps(bytes, bytes.len().max(1), head_req).unwrap();
        for step in 1..bytes.len() {
            assert_eq!(
                parse_in_steps(bytes, step, head_req).unwrap(),
                first,
                "step {step}"
            );
        }
        first
    }

    #[test]
    fn content_length_with_trailing_bytes_of_next_response() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: x\r\n\r\nhelloHTTP/1.1";
        let (h, used) = all_steps(r, false);
        assert_eq!(
            h,
            Head {
                status: 200,
                keep_alive: true,
                body: BodyKind::Length(5)
            }
        );
        assert_eq!(used, r.len() - "HTTP/1.1".len());
    }

    #[test]
    fn chunked_with_extensions_and_trailers() {
        let r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5;x=y\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nT: v\r\n\r\n";
        let (h, used) = all_steps(r, false);
        assert_eq!(h.body, BodyKind::Chunked);
        assert!(h.keep_alive);
        assert_eq!(used, r.len());
    }

    #[test]
    fn chunked_bare_lf_and_no_trailers() {
        let r = b"HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\nextra";
        let (_, used) = all_steps(r, false);
        assert_eq!(used, r.len() - 5);
    }

    #[test]
    fn close_delimited_ends_at_eof_only() {
        let r = b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\nbody until close";
        let (h, used) = all_steps(r, false);
        assert_eq!(
            h,
            Head {
                status: 200,
                keep_alive: false,
                body: BodyKind::UntilClose
            }
        );
        assert_eq!(used, r.len());
    }

    #[test]
    fn bodiless_responses() {
        let r = b"HTTP/1.1 204 No Content\r\nContent-Length: 99\r\n\r\n";
        assert_eq!(all_steps(r, false).1, r.len());
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n";
        assert_eq!(all_steps(r, true).1, r.len());
        let r = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 304 Not Modified\r\n\r\n";
        let (h, used) = all_steps(r, false);
        assert_eq!((h.status, used), (304, r.len()));
    }

    #[test]
    fn connection_persistence() {
        let ka = |r: &[u8]| all_steps(r, false).0.keep_alive;
        assert!(!ka(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        ));
        assert!(!ka(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"));
        assert!(ka(
            b"HTTP/1.0 200 OK\r\nconnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n"
        ));
        assert!(ka(b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n"));
    }

    #[test]
    fn malformed_responses_are_errors() {
        let bad = |r: &[u8]| parse_in_steps(r, r.len(), false).unwrap_err();
        assert_eq!(bad(b"HTP/1.1 200 OK\r\n\r\n"), ResponseError::StatusLine);
        assert_eq!(bad(b"HTTP/1.1 2x0 OK\r\n\r\n"), ResponseError::StatusLine);
        assert!(matches!(
            bad(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"),
            ResponseError::Header(_)
        ));
        assert!(matches!(
            bad(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
            ResponseError::Chunked(_)
        ));
        assert_eq!(
            bad(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"),
            ResponseError::Incomplete
        );
        let mut huge = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
        huge.resize(MAX_HEAD + 10, b'a');
        assert_eq!(bad(&huge), ResponseError::HeadTooLong);
        assert_eq!(
            parse_in_steps(&huge, 1000, false).unwrap_err(),
            ResponseError::HeadTooLong
        );
    }

    #[test]
    fn reset_reuses_parser() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        let mut p = Parser::new(false);
        for _ in 0..3 {
            assert!(!p.started());
            assert_eq!(p.feed(r).unwrap(), Progress::Done { consumed: r.len() });
            p.reset();
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..300), step in 1usize..50) {
            let _ = parse_in_steps(&data, step, false);
        }

        #[test]
        fn chunked_any_split(body in proptest::collection::vec(proptest::num::u8::ANY, 0..200), n in 1usize..20, step in 1usize..40) {
            let mut r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            for c in body.chunks(n) {
                r.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                r.extend_from_slice(c);
                r.extend_from_slice(b"\r\n");
            }
            r.extend_from_slice(b"0\r\n\r\n");
            let (_, used) = parse_in_steps(&r, step, false).unwrap();
            proptest::prop_assert_eq!(used, r.len());
        }
    }
}
