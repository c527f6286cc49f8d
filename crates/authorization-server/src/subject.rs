//! Pairwise pseudonymous subject identifiers (OIDC Core §8.1; CAMARA ICM "ID Token sub claim":
//! the `sub` MUST NOT be the MSISDN nor reversible by colluding clients).
//!
//! `sub = base64url(SHA-256(sector_identifier ‖ 0x00 ‖ msisdn ‖ 0x00 ‖ salt))`. The salt is a
//! server secret, so a client cannot test candidate numbers against a `sub`; the sector makes the
//! same subscriber look different to unrelated clients. The 0x00 separators keep the fields apart.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use nv_token::PhoneNumber;
use sha2::{Digest, Sha256};

use crate::config::Secret;

pub fn pairwise_sub(sector: &str, msisdn: &PhoneNumber, salt: &Secret) -> String {
    let mut h = Sha256::new();
    h.update(sector.as_bytes());
    h.update([0]);
    h.update(msisdn.as_str().as_bytes());
    h.update([0]);
    h.update(salt.expose().as_bytes());
    URL_SAFE_NO_PAD.encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_differs_per_sector_and_salt_and_hides_the_number() {
        let n: PhoneNumber = "+99012345678".parse().unwrap();
        let salt = Secret::new("s");
        let a = pairwise_sub("a.example", &n, &salt);
        assert_eq!(a, pairwise_sub("a.example", &n, &salt));
        assert_ne!(a, pairwise_sub("b.example", &n, &salt));
        assert_ne!(a, pairwise_sub("a.example", &n, &Secret::new("t")));
        assert!(!a.contains("99012345678"));
    }
}
