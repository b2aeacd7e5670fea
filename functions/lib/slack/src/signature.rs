//! Verifying that a request comes from Slack (Slack's "signing secret" scheme,
//! version `v0`): `X-Slack-Signature` is `v0=` + the hex HMAC-SHA256 of
//! `v0:{X-Slack-Request-Timestamp}:{raw body}`, keyed with the app's signing
//! secret. The comparison is constant-time, and requests whose timestamp is
//! more than five minutes off are refused (a captured request cannot be replayed).
//!
//! Nothing of the body is parsed before [`verify`] accepts it.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Requests older or newer than this are refused (Slack's recommendation).
pub const MAX_CLOCK_SKEW_SECONDS: i64 = 5 * 60;

/// Why a request is not accepted as Slack's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    MissingHeader(&'static str),
    /// The timestamp is not a number, or too far from now.
    StaleTimestamp {
        skew_seconds: Option<i64>,
    },
    /// Not `v0=` + 64 hex digits.
    MalformedSignature,
    /// A well-formed signature that does not match.
    BadSignature,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejection::MissingHeader(name) => write!(f, "the request has no {name} header"),
            Rejection::StaleTimestamp {
                skew_seconds: Some(s),
            } => write!(
                f,
                "the request timestamp is {s} s away from now (at most {MAX_CLOCK_SKEW_SECONDS} s is accepted)"
            ),
            Rejection::StaleTimestamp { skew_seconds: None } => {
                f.write_str("the request timestamp is not a number of seconds")
            }
            Rejection::MalformedSignature => {
                f.write_str("the signature is not 'v0=' followed by 64 hex digits")
            }
            Rejection::BadSignature => f.write_str("the signature does not match"),
        }
    }
}

/// The `v0` signature of a request body sent at `timestamp` (what Slack sends;
/// the local stack's Slack emulator signs with it too).
pub fn sign(signing_secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let mut mac = mac(signing_secret);
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("v0={hex}")
}

/// Checks a request's timestamp and signature headers against its raw body.
/// `timestamp` and `signature` are the header values (`None` when absent).
pub fn verify(
    signing_secret: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now_epoch: i64,
) -> Result<(), Rejection> {
    let timestamp = timestamp.ok_or(Rejection::MissingHeader("X-Slack-Request-Timestamp"))?;
    let signature = signature.ok_or(Rejection::MissingHeader("X-Slack-Signature"))?;
    let sent = timestamp
        .trim()
        .parse::<i64>()
        .map_err(|_| Rejection::StaleTimestamp { skew_seconds: None })?;
    let skew = now_epoch.saturating_sub(sent);
    if skew.abs() > MAX_CLOCK_SKEW_SECONDS {
        return Err(Rejection::StaleTimestamp {
            skew_seconds: Some(skew),
        });
    }
    let expected = signature
        .strip_prefix("v0=")
        .and_then(decode_hex)
        .ok_or(Rejection::MalformedSignature)?;
    let mut mac = mac(signing_secret);
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    // Constant-time comparison (hmac's verify uses `subtle`).
    mac.verify_slice(&expected)
        .map_err(|_| Rejection::BadSignature)
}

fn mac(secret: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length.
    match <Hmac<Sha256> as KeyInit>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    }
}

/// 64 hex digits → 32 bytes.
fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Slack's documented example ("Verifying requests from Slack").
    const SECRET: &[u8] = b"8f742231b10e8888abcd99yyyzzz85a5";
    const TIMESTAMP: &str = "1531420618";
    const BODY: &[u8] = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    const NOW: i64 = 1_531_420_618;

    #[test]
    fn slacks_documented_example_verifies() {
        assert_eq!(sign(SECRET, TIMESTAMP, BODY), SIGNATURE);
        assert_eq!(
            verify(SECRET, Some(TIMESTAMP), Some(SIGNATURE), BODY, NOW),
            Ok(())
        );
    }

    #[test]
    fn anything_else_is_refused() {
        let v = |ts: Option<&str>, sig: Option<&str>, body: &[u8], now: i64| {
            verify(SECRET, ts, sig, body, now)
        };
        assert_eq!(
            v(None, Some(SIGNATURE), BODY, NOW),
            Err(Rejection::MissingHeader("X-Slack-Request-Timestamp"))
        );
        assert_eq!(
            v(Some(TIMESTAMP), None, BODY, NOW),
            Err(Rejection::MissingHeader("X-Slack-Signature"))
        );
        assert_eq!(
            v(Some(TIMESTAMP), Some(SIGNATURE), BODY, NOW + 301),
            Err(Rejection::StaleTimestamp {
                skew_seconds: Some(301)
            })
        );
        assert_eq!(
            v(Some(TIMESTAMP), Some(SIGNATURE), BODY, NOW - 301),
            Err(Rejection::StaleTimestamp {
                skew_seconds: Some(-301)
            })
        );
        assert!(v(Some(TIMESTAMP), Some(SIGNATURE), BODY, NOW + 300).is_ok());
        assert_eq!(
            v(Some("soon"), Some(SIGNATURE), BODY, NOW),
            Err(Rejection::StaleTimestamp { skew_seconds: None })
        );
        let mut tampered = BODY.to_vec();
        tampered[0] = b'T';
        assert_eq!(
            v(Some(TIMESTAMP), Some(SIGNATURE), &tampered, NOW),
            Err(Rejection::BadSignature)
        );
        assert_eq!(
            verify(
                b"another secret",
                Some(TIMESTAMP),
                Some(SIGNATURE),
                BODY,
                NOW
            ),
            Err(Rejection::BadSignature)
        );
        for malformed in [
            "a2114d57",
            "v1=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
            "v0=zz14d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
            "v0=",
        ] {
            assert_eq!(
                v(Some(TIMESTAMP), Some(malformed), BODY, NOW),
                Err(Rejection::MalformedSignature),
                "{malformed}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn no_input_panics(ts in ".{0,20}", sig in ".{0,80}", body in proptest::collection::vec(proptest::num::u8::ANY, 0..200), now in proptest::num::i64::ANY) {
            let _ = verify(SECRET, Some(&ts), Some(&sig), &body, now);
        }
    }
}
