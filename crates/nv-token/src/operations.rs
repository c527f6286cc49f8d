//! The public-key operations each request of a Number Verification flow pays for, named once so
//! that the criterion benchmarks (`benches/token_contract.rs`) and loadgen's crypto bound
//! measure and add up the same list. `/authorize` has none (a random code and one SHA-256).

/// One operation, named as its benchmark group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Verify a `private_key_jwt` client assertion.
    ClientAssertionVerify,
    /// Sign the access token, then encrypt it to the resource server ([`crate::seal`]).
    Seal,
    /// Sign the ID token.
    IdTokenSign,
    /// Decrypt the access token, verify it, check its claims ([`crate::open`]).
    Open,
}

/// Which of a deployment's algorithms an operation's cost depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithms {
    /// The authorization server's signing algorithm.
    Signing,
    /// The client's signing algorithm (its assertion key).
    Client,
    /// The signing algorithm and the key management of the access token (content A256GCM).
    SigningAndKeyManagement,
}

/// What `POST /token` (authorization code, `openid` scope) does.
pub const TOKEN_ENDPOINT: [Operation; 3] = [
    Operation::ClientAssertionVerify,
    Operation::Seal,
    Operation::IdTokenSign,
];

/// What `POST /number-verification/v2/verify` does.
pub const VERIFY_ENDPOINT: [Operation; 1] = [Operation::Open];

impl Operation {
    /// Every operation, in the order of a flow.
    pub const ALL: [Operation; 4] = [
        Operation::ClientAssertionVerify,
        Operation::Seal,
        Operation::IdTokenSign,
        Operation::Open,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Operation::ClientAssertionVerify => "client_assertion_verify",
            Operation::Seal => "seal",
            Operation::IdTokenSign => "id_token_sign",
            Operation::Open => "open",
        }
    }

    pub const fn algorithms(self) -> Algorithms {
        match self {
            Operation::ClientAssertionVerify => Algorithms::Client,
            Operation::Seal | Operation::Open => Algorithms::SigningAndKeyManagement,
            Operation::IdTokenSign => Algorithms::Signing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoints_use_every_operation_once() {
        let used: Vec<Operation> = TOKEN_ENDPOINT.into_iter().chain(VERIFY_ENDPOINT).collect();
        assert_eq!(used, Operation::ALL);
    }
}
