//! Whatever arrives, the decoder answers without panicking, and garbage never yields an event
//! it was not built from.

use ipfix_nat::testing::MessageBuilder;
use ipfix_nat::Decoder;
use proptest::prelude::*;

proptest! {
    #[test]
    fn random_datagrams_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut d = Decoder::default();
        let _ = d.decode("10.0.0.1:1".parse().unwrap(), &bytes);
    }

    /// A valid header and a template, then random set bodies: sets are checked one by one.
    #[test]
    fn random_sets_after_a_valid_template_never_panic(
        sets in proptest::collection::vec((any::<u16>(), proptest::collection::vec(any::<u8>(), 0..80)), 0..6)
    ) {
        let mut d = Decoder::default();
        let peer = "10.0.0.1:1".parse().unwrap();
        d.decode(peer, &MessageBuilder::new(0, 0).nat_template(256).build()).unwrap();
        let mut b = MessageBuilder::new(0, 0);
        for (id, body) in &sets {
            b = b.raw_set(*id, body);
        }
        let _ = d.decode(peer, &b.build());
    }
}
