//! HMAC-SHA256, the signature scheme of Binance-style REST APIs. The key is a
//! CKK_GENERIC_SECRET inside the token; nothing here ever sees it. What this
//! module offers is the length check on what the token returns.

use super::CryptoError;

/// HMAC-SHA256 output length.
pub const MAC_LEN: usize = 32;

/// Check the shape of a token-computed MAC.
pub fn finish(raw: &[u8]) -> Result<[u8; MAC_LEN], CryptoError> {
    raw.try_into()
        .map_err(|_| CryptoError::BadSignature("HMAC-SHA256"))
}
