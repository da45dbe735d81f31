//! Minimal ISO 7816-4 command APDU parsing and encoding.
//!
//! The applet is fed through `iso7816::command::CommandView`, which is only
//! built by parsing bytes, so the wrapper re-encodes every (possibly
//! re-assembled or rewritten) command with [`encode`].

/// Status words used by the wrapper itself.
pub mod sw {
    pub const SUCCESS: u16 = 0x9000;
    pub const WRONG_LENGTH: u16 = 0x6700;
    pub const SECURITY_STATUS_NOT_SATISFIED: u16 = 0x6982;
    pub const WRONG_DATA: u16 = 0x6A80;
    pub const NOT_FOUND: u16 = 0x6A82;
    pub const INS_NOT_SUPPORTED: u16 = 0x6D00;
    pub const CLA_NOT_SUPPORTED: u16 = 0x6E00;
}

/// A parsed command APDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Apdu {
    pub cla: u8,
    pub ins: u8,
    pub p1: u8,
    pub p2: u8,
    pub data: Vec<u8>,
    /// Expected response length; `None` when the command carried no Le.
    pub le: Option<usize>,
}

impl Apdu {
    /// Parses short and extended APDUs (cases 1 to 4).
    pub fn parse(bytes: &[u8]) -> Result<Self, u16> {
        if bytes.len() < 4 {
            return Err(sw::WRONG_LENGTH);
        }
        let (cla, ins, p1, p2) = (bytes[0], bytes[1], bytes[2], bytes[3]);
        let body = &bytes[4..];
        let (data, le) = match body.len() {
            // Case 1.
            0 => (&body[..0], None),
            // Case 2 short: Le only (00 means 256).
            1 => (&body[..0], Some(short_le(body[0]))),
            _ if body[0] != 0 => {
                // Short Lc.
                let lc = usize::from(body[0]);
                match body.len() - 1 {
                    n if n == lc => (&body[1..], None),
                    n if n == lc + 1 => (&body[1..=lc], Some(short_le(body[lc + 1]))),
                    _ => return Err(sw::WRONG_LENGTH),
                }
            }
            // Extended: a zero byte, then two length bytes.
            3 => (&body[..0], Some(extended_le(body[1], body[2]))),
            n if n > 3 => {
                let lc = usize::from(u16::from_be_bytes([body[1], body[2]]));
                if lc == 0 {
                    return Err(sw::WRONG_LENGTH);
                }
                match n - 3 {
                    m if m == lc => (&body[3..], None),
                    m if m == lc + 2 => (
                        &body[3..3 + lc],
                        Some(extended_le(body[3 + lc], body[4 + lc])),
                    ),
                    _ => return Err(sw::WRONG_LENGTH),
                }
            }
            _ => return Err(sw::WRONG_LENGTH),
        };
        Ok(Self {
            cla,
            ins,
            p1,
            p2,
            data: data.to_vec(),
            le,
        })
    }

    /// True for a command that is followed by more parts of a chain.
    pub fn is_chained(&self) -> bool {
        self.cla & 0x10 != 0
    }
}

fn short_le(byte: u8) -> usize {
    if byte == 0 {
        256
    } else {
        usize::from(byte)
    }
}

fn extended_le(hi: u8, lo: u8) -> usize {
    match u16::from_be_bytes([hi, lo]) {
        0 => 65536,
        n => usize::from(n),
    }
}

/// Encodes a command with an explicit maximal Le, choosing the extended form
/// when the data does not fit a short APDU.
pub fn encode(cla: u8, ins: u8, p1: u8, p2: u8, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 9);
    out.extend_from_slice(&[cla, ins, p1, p2]);
    if data.is_empty() {
        out.push(0x00);
    } else if data.len() <= 255 {
        out.push(data.len() as u8);
        out.extend_from_slice(data);
        out.push(0x00);
    } else {
        let lc = u16::try_from(data.len()).unwrap_or(u16::MAX);
        out.push(0x00);
        out.extend_from_slice(&lc.to_be_bytes());
        out.extend_from_slice(&data[..usize::from(lc)]);
        out.extend_from_slice(&[0x00, 0x00]);
    }
    out
}

/// Reads one BER-TLV element: returns (tag, value, rest). Tags of up to
/// three bytes and lengths of up to three bytes are supported.
pub fn take_tlv(input: &[u8]) -> Option<(u32, &[u8], &[u8])> {
    let first = *input.first()?;
    let mut pos = 1;
    let mut tag = u32::from(first);
    if first & 0x1F == 0x1F {
        loop {
            let b = *input.get(pos)?;
            tag = (tag << 8) | u32::from(b);
            pos += 1;
            if b & 0x80 == 0 || pos > 3 {
                break;
            }
        }
    }
    let len_byte = *input.get(pos)?;
    pos += 1;
    let len = match len_byte {
        n if n < 0x80 => usize::from(n),
        0x81 => {
            let n = usize::from(*input.get(pos)?);
            pos += 1;
            n
        }
        0x82 => {
            let n = usize::from(u16::from_be_bytes([*input.get(pos)?, *input.get(pos + 1)?]));
            pos += 2;
            n
        }
        _ => return None,
    };
    let value = input.get(pos..pos + len)?;
    Some((tag, value, &input[pos + len..]))
}

/// Appends a BER length.
pub fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else if len <= 0xFF {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        let len = u16::try_from(len).unwrap_or(u16::MAX);
        out.push(0x82);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_cases() {
        let c1 = Apdu::parse(&[0, 0xFD, 0, 0]).unwrap();
        assert_eq!((c1.data.len(), c1.le), (0, None));
        let c2 = Apdu::parse(&[0, 0xFD, 0, 0, 0]).unwrap();
        assert_eq!(c2.le, Some(256));
        let c3 = Apdu::parse(&[0, 0xA4, 4, 0, 2, 0xA0, 0]).unwrap();
        assert_eq!((c3.data, c3.le), (vec![0xA0, 0], None));
        let c4 = Apdu::parse(&[0, 0xA4, 4, 0, 1, 0xA0, 0x10]).unwrap();
        assert_eq!((c4.data, c4.le), (vec![0xA0], Some(16)));
        let ext = Apdu::parse(&[0, 0xDB, 0x3F, 0xFF, 0, 0, 2, 1, 2, 0, 0]).unwrap();
        assert_eq!((ext.data, ext.le), (vec![1, 2], Some(65536)));
        assert!(Apdu::parse(&[0, 0xA4, 4, 0, 3, 1]).is_err());
    }

    #[test]
    fn encodes_long_data_as_extended() {
        let data = vec![7u8; 300];
        let bytes = encode(0, 0xDB, 0x3F, 0xFF, &data);
        let back = Apdu::parse(&bytes).unwrap();
        assert_eq!(back.data, data);
        assert_eq!(back.le, Some(65536));
    }

    #[test]
    fn reads_tlv() {
        let (tag, value, rest) = take_tlv(&[0x5C, 0x03, 0x5F, 0xC1, 0x0C, 0x53, 0x00]).unwrap();
        assert_eq!(
            (tag, value, rest),
            (0x5C, &[0x5F, 0xC1, 0x0C][..], &[0x53, 0x00][..])
        );
        let (tag, value, _) = take_tlv(&[0x7F, 0x49, 0x81, 0x01, 0xAA]).unwrap();
        assert_eq!((tag, value), (0x7F49, &[0xAA][..]));
    }
}
