//! Just enough DER to write Intel's SGX certificate extension.

/// Tag-length-value with DER's definite length.
pub(crate) fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
    out.extend_from_slice(value);
    out
}

/// SEQUENCE of already-encoded elements.
pub(crate) fn seq(items: &[Vec<u8>]) -> Vec<u8> {
    tlv(0x30, &items.concat())
}

/// OBJECT IDENTIFIER from its arcs (the first two are at most 2 and 39).
pub(crate) fn oid(arcs: &[u64]) -> Vec<u8> {
    let mut body = vec![(arcs[0] * 40 + arcs[1]) as u8];
    for &arc in &arcs[2..] {
        let mut chunk = vec![(arc & 0x7f) as u8];
        let mut rest = arc >> 7;
        while rest > 0 {
            chunk.push(0x80 | (rest & 0x7f) as u8);
            rest >>= 7;
        }
        chunk.reverse();
        body.extend(chunk);
    }
    tlv(0x06, &body)
}

/// Non-negative INTEGER (or ENUMERATED with `tag` 0x0a).
pub(crate) fn uint(tag: u8, v: u64) -> Vec<u8> {
    let mut bytes: Vec<u8> = v.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
    if bytes.first().is_none_or(|b| b & 0x80 != 0) {
        bytes.insert(0, 0);
    }
    tlv(tag, &bytes)
}

/// OCTET STRING.
pub(crate) fn octets(v: &[u8]) -> Vec<u8> {
    tlv(0x04, v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_encodings() {
        // 1.2.840.113741.1.13.1, as in every Intel PCK certificate.
        assert_eq!(hex::encode(oid(&[1, 2, 840, 113741, 1, 13, 1])), "06092a864886f84d010d01");
        assert_eq!(uint(0x02, 0), [0x02, 0x01, 0x00]);
        assert_eq!(uint(0x02, 128), [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(tlv(0x04, &[0u8; 200])[..3], [0x04, 0x81, 200]);
    }
}
