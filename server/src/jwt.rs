//! Presence authorization tokens: compact JWTs signed HS256 (see `docs/PROTOCOL.md`,
//! "Presence", "Authorization tokens").
//!
//! Header `{"alg":"HS256","typ":"JWT"}`; claims `{"sub","name","partnerid","puid","groupid","iat","exp"}`.
//! Verification checks the header's `alg`, the signature (in constant time), `exp` against the
//! current time and `groupid` against the group of the request.

use std::fmt;

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::auth::{ct_eq, Agent};

/// Longest token accepted for verification.
pub const MAX_TOKEN: usize = 4096;

/// Longest lifetime of a token, in minutes.
pub const MAX_MINUTES: u64 = 120;

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtError {
    /// Not three base64url parts of JSON, or a header other than HS256.
    Malformed,
    /// Wrong signature.
    Signature,
    /// Past its `exp`.
    Expired,
    /// Issued for another group.
    WrongGroup,
}

impl fmt::Display for JwtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JwtError::Malformed => "malformed token",
            JwtError::Signature => "bad signature",
            JwtError::Expired => "token expired",
            JwtError::WrongGroup => "token for another group",
        })
    }
}

impl std::error::Error for JwtError {}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// base64url without padding.
pub fn b64url(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(char::from(B64[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// Decodes base64url without padding; `None` on any other character or a bad length.
pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    if s.len() % 4 == 1 {
        return None;
    }
    let val = |c: u8| B64.iter().position(|&b| b == c).map(|p| p as u32);
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    for chunk in s.as_bytes().chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= val(c)? << (18 - 6 * i);
        }
        let bytes = chunk.len() - 1;
        for i in 0..bytes {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

fn mac(secret: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

/// A token for `agent` in `groupid`, issued at `iat`, valid until `exp` (unix seconds).
pub fn issue(secret: &[u8], agent: &Agent, groupid: &str, iat: u64, exp: u64) -> String {
    let header = b64url(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = json!({
        "sub": agent.username,
        "name": agent.name,
        "partnerid": agent.partnerid,
        "puid": agent.partneruserid,
        "groupid": groupid,
        "iat": iat,
        "exp": exp,
    });
    let body = b64url(claims.to_string().as_bytes());
    let signing = format!("{header}.{body}");
    let sig = b64url(&mac(secret, signing.as_bytes()));
    format!("{signing}.{sig}")
}

/// The claims of a valid token for `groupid` at unix time `now`.
pub fn verify(secret: &[u8], token: &str, groupid: &str, now: u64) -> Result<Value, JwtError> {
    if token.len() > MAX_TOKEN {
        return Err(JwtError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let header: Value = b64url_decode(h)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(JwtError::Malformed)?;
    if header["alg"] != "HS256" {
        return Err(JwtError::Malformed);
    }
    let sig = b64url_decode(s).ok_or(JwtError::Malformed)?;
    let want = mac(secret, &token.as_bytes()[..h.len() + 1 + c.len()]);
    if !ct_eq(&sig, &want) {
        return Err(JwtError::Signature);
    }
    let claims: Value = b64url_decode(c)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(JwtError::Malformed)?;
    let exp = claims["exp"].as_u64().ok_or(JwtError::Malformed)?;
    if now >= exp {
        return Err(JwtError::Expired);
    }
    if claims["groupid"].as_str() != Some(groupid) {
        return Err(JwtError::WrongGroup);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_round_trips() {
        for n in 0..40u8 {
            let data: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37).wrapping_add(n)).collect();
            let enc = b64url(&data);
            assert!(!enc.contains('=') && !enc.contains('+') && !enc.contains('/'));
            assert_eq!(b64url_decode(&enc).as_deref(), Some(&data[..]));
        }
        assert_eq!(b64url(b"hello"), "aGVsbG8");
        assert_eq!(b64url_decode("a"), None);
        assert_eq!(b64url_decode("a+b="), None);
    }

    #[test]
    fn tokens_verify_and_refuse() {
        let a = Agent::named("agnes");
        let t = issue(b"k", &a, "1234", 100, 200);
        // The header is the standard one (other JWT libraries can read it).
        assert!(t.starts_with("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."));
        let c = verify(b"k", &t, "1234", 150).expect("valid");
        assert_eq!(c["sub"], "agnes");
        assert_eq!(c["exp"], 200);
        assert_eq!(verify(b"other", &t, "1234", 150), Err(JwtError::Signature));
        assert_eq!(verify(b"k", &t, "1234", 200), Err(JwtError::Expired));
        assert_eq!(verify(b"k", &t, "5678", 150), Err(JwtError::WrongGroup));
        assert_eq!(verify(b"k", "a.b", "1234", 150), Err(JwtError::Malformed));
        // Claims changed after signing.
        let mut parts: Vec<String> = t.split('.').map(String::from).collect();
        parts[1] = b64url(br#"{"sub":"agnes","groupid":"1234","exp":9999999999}"#);
        assert_eq!(
            verify(b"k", &parts.join("."), "1234", 150),
            Err(JwtError::Signature)
        );
        // alg "none" is refused.
        let none = format!("{}.{}.", b64url(br#"{"alg":"none"}"#), parts[1]);
        assert_eq!(verify(b"k", &none, "1234", 150), Err(JwtError::Malformed));
    }
}
