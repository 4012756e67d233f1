//! Base64url without padding (RFC 7515 §2): the encoding of every segment of a compact JWS,
//! and of the HMAC secrets Tessera generates.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// `bytes` as base64url text without padding.
pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Appends `bytes` to `out` as base64url text without padding.
pub(crate) fn b64_append(bytes: &[u8], out: &mut String) {
    URL_SAFE_NO_PAD.encode_string(bytes, out);
}

/// The bytes of base64url text without padding; `None` when `text` is not such text.
pub(crate) fn b64_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_has_no_padding_and_round_trips() {
        let bytes = [0xfb, 0xff, 0x01, 0x02];
        assert_eq!(b64(&bytes), "-_8BAg");
        let mut out = String::from("x.");
        b64_append(&bytes, &mut out);
        assert_eq!(out, "x.-_8BAg");
        assert_eq!(b64_decode("-_8BAg").as_deref(), Some(&bytes[..]));
        assert_eq!(b64_decode("-_8BAg=="), None);
        assert_eq!(b64_decode("+/8BAg"), None);
    }
}
