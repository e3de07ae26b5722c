//! The one script, inline and tiny: with it, a rollout page replaces its
//! live section with each fragment the server streams (server-sent events);
//! without it, the page is whole and a reload shows the news. The
//! Content-Security-Policy allows exactly this script, by its hash, so
//! markup that slipped past escaping could still run nothing.

use sha2::{Digest, Sha256};

pub const LIVE: &str = r#"(function(){var l=document.getElementById("live");if(!l||!window.EventSource)return;var s=document.getElementById("live-state");var e=new EventSource(l.getAttribute("data-stream"));e.addEventListener("update",function(m){var o=[].map.call(l.querySelectorAll("details[open]"),function(d){return d.id;});l.innerHTML=m.data;o.forEach(function(i){var d=i&&document.getElementById(i);if(d)d.open=true;});l.setAttribute("data-updates",String(Number(l.getAttribute("data-updates")||"0")+1));if(s)s.textContent="Live: updated "+new Date().toLocaleTimeString();});e.onerror=function(){if(s)s.textContent="Live: reconnecting…";};})();"#;

/// The policy every page is served with.
pub fn content_security_policy() -> String {
    format!(
        "default-src 'none'; script-src 'sha256-{}'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        base64(&Sha256::digest(LIVE.as_bytes()))
    )
}

/// Standard base64 with padding (RFC 4648 §4), as CSP hashes are written.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> shift) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_vectors() {
        for (input, output) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), output);
        }
    }

    #[test]
    fn the_policy_names_the_script_by_hash() {
        let policy = content_security_policy();
        assert!(policy.contains("script-src 'sha256-"), "{policy}");
        assert!(!policy.contains("unsafe-eval"), "{policy}");
    }
}
