//! Ethereum conventions: Keccak-256, addresses (with EIP-55 checksums) and
//! EIP-191 `personal_sign` message hashing.

use sha3::{Digest, Keccak256};

/// Keccak-256 of `data`.
pub fn keccak256(data: &[u8]) -> [u8; 32] {
    Keccak256::digest(data).into()
}

/// The 20-byte address of an uncompressed SEC1 public key (65 bytes).
pub fn address(uncompressed_pubkey: &[u8]) -> [u8; 20] {
    debug_assert_eq!(uncompressed_pubkey.len(), 65);
    let hash = keccak256(&uncompressed_pubkey[1..]);
    let mut out = [0u8; 20];
    out.copy_from_slice(&hash[12..]);
    out
}

/// EIP-55 mixed-case checksummed address, with `0x`.
pub fn checksum_address(addr: &[u8; 20]) -> String {
    let lower = hex::encode(addr);
    let hash = keccak256(lower.as_bytes());
    let mut out = String::with_capacity(42);
    out.push_str("0x");
    for (i, c) in lower.chars().enumerate() {
        let nibble = (hash[i / 2] >> (if i % 2 == 0 { 4 } else { 0 })) & 0x0f;
        if c.is_ascii_alphabetic() && nibble >= 8 {
            out.push(c.to_ascii_uppercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// EIP-191 version 0x45 ("personal_sign") digest of `message`.
pub fn personal_message_digest(message: &[u8]) -> [u8; 32] {
    let mut h = Keccak256::new();
    h.update(b"\x19Ethereum Signed Message:\n");
    h.update(message.len().to_string().as_bytes());
    h.update(message);
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eip55_examples() {
        // Test vectors from the EIP-55 specification.
        for want in [
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
            "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
            "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
        ] {
            let raw: [u8; 20] = hex::decode(want[2..].to_lowercase())
                .unwrap()
                .try_into()
                .unwrap();
            assert_eq!(checksum_address(&raw), want);
        }
    }

    #[test]
    fn address_of_known_key() {
        // Private key 1: its address is well known.
        let sk = k256::ecdsa::SigningKey::from_slice(&{
            let mut k = [0u8; 32];
            k[31] = 1;
            k
        })
        .unwrap();
        let pk = sk.verifying_key().to_sec1_point(false);
        assert_eq!(
            checksum_address(&address(pk.as_bytes())),
            "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"
        );
    }

    #[test]
    fn personal_digest_known_value() {
        // keccak256("\x19Ethereum Signed Message:\n5hello")
        assert_eq!(
            hex::encode(personal_message_digest(b"hello")),
            "50b2c43fd39106bafbba0da34fc430e1f91e3c96ea2acee2bc34119f92b37750"
        );
    }
}
