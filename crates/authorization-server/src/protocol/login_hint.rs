//! `login_hint` formats of the CAMARA Security and Interoperability Profile ("Format of
//! login_hint"): `tel:+<E.164>`, `ipport:<ipv4>[:port]`, `ipport:[<ipv6>][:port]`,
//! `operatortoken:<token>`; a bare E.164 number and `phone_number:+<E.164>` are accepted too
//! (operators' SDKs and documents use them).

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use nv_token::PhoneNumber;

#[derive(Clone, PartialEq, Eq)]
pub enum LoginHint {
    Phone(PhoneNumber),
    IpPort(IpAddr, Option<u16>),
    OperatorToken(String),
}

impl fmt::Debug for LoginHint {
    // Hints are personal data: say which kind, never the value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoginHint::Phone(p) => write!(f, "LoginHint::Phone({p:?})"),
            LoginHint::IpPort(..) => f.write_str("LoginHint::IpPort(..)"),
            LoginHint::OperatorToken(_) => f.write_str("LoginHint::OperatorToken(..)"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginHintError {
    #[error("login_hint tel: must be an E.164 number such as tel:+33612345678")]
    BadTel,
    #[error("login_hint ipport: must be ipport:<ipv4>[:port] or ipport:[<ipv6>][:port]")]
    BadIpPort,
    #[error("login_hint operatortoken: must carry a token")]
    EmptyToken,
    #[error("login_hint must be tel:+<E.164>, ipport:<ip>[:port], operatortoken:<token> or an E.164 number")]
    UnknownFormat,
}

impl std::str::FromStr for LoginHint {
    type Err = LoginHintError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // `phone_number:+…` is the Telefónica Open Gateway documents' spelling of `tel:`.
        if let Some(rest) = s
            .strip_prefix("tel:")
            .or_else(|| s.strip_prefix("phone_number:"))
        {
            return rest
                .parse()
                .map(LoginHint::Phone)
                .map_err(|_| LoginHintError::BadTel);
        }
        if let Some(rest) = s.strip_prefix("ipport:") {
            return parse_ipport(rest)
                .map(|(ip, port)| LoginHint::IpPort(ip, port))
                .ok_or(LoginHintError::BadIpPort);
        }
        if let Some(rest) = s.strip_prefix("operatortoken:") {
            if rest.is_empty() || rest.len() > 4096 {
                return Err(LoginHintError::EmptyToken);
            }
            return Ok(LoginHint::OperatorToken(rest.to_owned()));
        }
        if s.starts_with('+') {
            return s
                .parse()
                .map(LoginHint::Phone)
                .map_err(|_| LoginHintError::BadTel);
        }
        Err(LoginHintError::UnknownFormat)
    }
}

fn parse_ipport(s: &str) -> Option<(IpAddr, Option<u16>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (ip, after) = rest.split_once(']')?;
        let ip: Ipv6Addr = ip.parse().ok()?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?.parse().ok()?),
        };
        return Some((IpAddr::V6(ip), port));
    }
    match s.split_once(':') {
        Some((ip, port)) => Some((IpAddr::V4(ip.parse().ok()?), Some(port.parse().ok()?))),
        None => Some((IpAddr::V4(s.parse().ok()?), None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_camara_form_parses() {
        assert!(matches!(
            "tel:+34666666666".parse(),
            Ok(LoginHint::Phone(_))
        ));
        assert!(matches!("+34666666666".parse(), Ok(LoginHint::Phone(_))));
        assert_eq!(
            "ipport:80.90.34.2:16790".parse(),
            Ok(LoginHint::IpPort(
                "80.90.34.2".parse().unwrap(),
                Some(16790)
            ))
        );
        assert_eq!(
            "ipport:80.90.34.2".parse(),
            Ok(LoginHint::IpPort("80.90.34.2".parse().unwrap(), None))
        );
        assert_eq!(
            "ipport:[2001:db8::1]:8080".parse(),
            Ok(LoginHint::IpPort(
                "2001:db8::1".parse().unwrap(),
                Some(8080)
            ))
        );
        assert_eq!(
            "ipport:[2001:db8::1]".parse(),
            Ok(LoginHint::IpPort("2001:db8::1".parse().unwrap(), None))
        );
        assert!(matches!(
            "operatortoken:abc".parse(),
            Ok(LoginHint::OperatorToken(_))
        ));
    }

    #[test]
    fn malformed_hints_are_refused() {
        for bad in [
            "tel:12345",
            "tel:+1",
            "ipport:999.1.1.1",
            "ipport:1.2.3.4:99999",
            "ipport:2001:db8::1",
            "ipport:[::1]x",
            "operatortoken:",
            "alice@example.com",
            "",
        ] {
            assert!(bad.parse::<LoginHint>().is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn parsing_never_panics(s in "\\PC{0,64}") {
            let _ = s.parse::<LoginHint>();
        }
    }
}
