//! DNS_CHECK without the socket: the query keepalived sends and the judgement of
//! the reply (RFC 1035 §4.1).
//!
//! The check passes when the reply carries our id, is a response (QR), has RCODE
//! 0 (NOERROR), echoes our question, and has at least one answer — keepalived's
//! `check_dns.c` rules.

use super::spec::DnsType;

const HEADER_LEN: usize = 12;

/// Encode a standard query (recursion desired) for `name` / `qtype`, class IN.
/// `name` is a dotted name; `.` or an empty string is the root.
pub fn query(id: u16, name: &str, qtype: DnsType) -> Result<Vec<u8>, String> {
    let mut q = Vec::with_capacity(HEADER_LEN + name.len() + 6);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&0x0100u16.to_be_bytes()); // RD
    q.extend_from_slice(&1u16.to_be_bytes()); // QDCOUNT
    q.extend_from_slice(&[0; 6]); // AN, NS, AR counts
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        if label.len() > 63 {
            return Err(format!("DNS label `{label}` is longer than 63 bytes"));
        }
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    if q.len() - HEADER_LEN > 255 {
        return Err(format!("DNS name `{name}` is longer than 255 bytes"));
    }
    q.extend_from_slice(&qtype.code().to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes()); // IN
    Ok(q)
}

/// Judge `reply` to the `sent` query: `Ok(detail)` or `Err(reason)`.
pub fn judge(sent: &[u8], reply: &[u8]) -> Result<String, String> {
    if reply.len() < HEADER_LEN {
        return Err(format!("DNS reply too short ({} bytes)", reply.len()));
    }
    if reply[..2] != sent[..2] {
        return Err("DNS reply id does not match the query".into());
    }
    let flags = u16::from_be_bytes([reply[2], reply[3]]);
    if flags & 0x8000 == 0 {
        return Err("DNS packet is not a response".into());
    }
    let rcode = flags & 0x000f;
    if rcode != 0 {
        return Err(format!("DNS reply RCODE {rcode} ({})", rcode_name(rcode)));
    }
    let question = &sent[HEADER_LEN..];
    if reply.len() < HEADER_LEN + question.len()
        || reply[4..6] != sent[4..6]
        || !reply[HEADER_LEN..HEADER_LEN + question.len()].eq_ignore_ascii_case(question)
    {
        return Err("DNS reply does not echo the question".into());
    }
    let ancount = u16::from_be_bytes([reply[6], reply[7]]);
    if ancount == 0 {
        return Err("DNS reply has no answer".into());
    }
    Ok(format!("{ancount} answer(s)"))
}

fn rcode_name(rcode: u16) -> &'static str {
    match rcode {
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        _ => "error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_query_byte_exact() {
        let q = query(0x1234, "www.example.com", DnsType::A).unwrap();
        let mut want = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        want.extend_from_slice(b"\x03www\x07example\x03com\x00\x00\x01\x00\x01");
        assert_eq!(q, want);
        let root = query(1, ".", DnsType::Soa).unwrap();
        assert_eq!(&root[12..], b"\x00\x00\x06\x00\x01");
        assert!(query(1, &"a".repeat(64), DnsType::A).is_err());
    }

    fn reply_to(q: &[u8], flags: u16, ancount: u16) -> Vec<u8> {
        let mut r = q.to_vec();
        r[2..4].copy_from_slice(&flags.to_be_bytes());
        r[6..8].copy_from_slice(&ancount.to_be_bytes());
        // One answer record: pointer to the question name, A, IN, TTL, 4 bytes.
        r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 1]);
        r
    }

    #[test]
    fn judges_replies() {
        let q = query(7, "svc.test", DnsType::A).unwrap();
        assert!(judge(&q, &reply_to(&q, 0x8180, 1)).is_ok());
        assert!(judge(&q, &reply_to(&q, 0x8183, 1))
            .unwrap_err()
            .contains("NXDOMAIN"));
        assert!(judge(&q, &reply_to(&q, 0x0100, 1))
            .unwrap_err()
            .contains("not a response"));
        assert!(judge(&q, &reply_to(&q, 0x8180, 0))
            .unwrap_err()
            .contains("no answer"));
        let mut other = reply_to(&q, 0x8180, 1);
        other[1] ^= 1;
        assert!(judge(&q, &other).unwrap_err().contains("id"));
        let mut wrong_q = reply_to(&q, 0x8180, 1);
        wrong_q[13] = b'x';
        assert!(judge(&q, &wrong_q).unwrap_err().contains("question"));
        assert!(judge(&q, &q[..5]).is_err());
        // Case differences in the echoed name are fine (RFC 4343).
        let mut upper = reply_to(&q, 0x8180, 1);
        upper[13] = b'S';
        assert!(judge(&q, &upper).is_ok());
    }
}
