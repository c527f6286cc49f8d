//! Where a relative key of the [`crate::Store`] trait lives in Redis.
//!
//! On one Redis node a key is `<prefix><key>`. On a cluster every key also carries a hash tag in
//! front, `<prefix>{<group>}<key>`, so that Redis places it by its *group* (Redis Cluster
//! specification, "Hash tags": only the part between the first `{` and the next `}` is hashed).
//! Keys of one group share a slot, so a script or multi-key command over them stays on one
//! master; keys of different groups spread over the whole cluster. The group of a key is
//!
//! 1. the content of its own hash tag, when it has one by Redis's rule (a `{`, later a `}`,
//!    something in between): `acct:{nas-1}:42` and `acct-index:{nas-1}` share a slot;
//! 2. else everything after its first `:` (the identifier after the kind):
//!    `code:<h>` and `code-redeemed:<h>` share a slot, `lease:<network>` is placed by the network;
//! 3. else the whole key.
//!
//! The tag stops at the group's first `}`, so the tag always ends where Redis ends it and the
//! key after it is the relative key unchanged (listings read it back). A group that is empty
//! there (`kind:` alone) gives `{}`, which Redis ignores: such a key is placed by its whole name.

/// How relative keys map to Redis keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyLayout {
    /// `<prefix><key>`: one Redis node.
    Plain,
    /// `<prefix>{<group>}<key>`: a Redis Cluster.
    HashTagged,
}

impl KeyLayout {
    /// The Redis key of the relative `key`.
    pub(super) fn absolute(self, prefix: &str, key: &str) -> String {
        match self {
            Self::Plain => format!("{prefix}{key}"),
            Self::HashTagged => format!("{prefix}{{{}}}{key}", tag(key)),
        }
    }

    /// The relative key of a Redis key written by [`absolute`](Self::absolute) with `prefix`;
    /// `None` for keys of another shape (not this store's).
    pub(super) fn relative<'a>(self, prefix: &str, absolute: &'a str) -> Option<&'a str> {
        let rest = absolute.strip_prefix(prefix)?;
        match self {
            Self::Plain => Some(rest),
            Self::HashTagged => {
                let (tag, key) = rest.strip_prefix('{')?.split_once('}')?;
                (tag == self::tag(key)).then_some(key)
            }
        }
    }

    /// A `SCAN MATCH` pattern for every key whose relative key starts with `key_prefix`. It may
    /// match more on a cluster (`*` spans the tag); callers keep only what
    /// [`relative`](Self::relative) maps back under `key_prefix`.
    pub(super) fn scan_pattern(self, prefix: &str, key_prefix: &str) -> String {
        match self {
            Self::Plain => format!("{}*", glob_escape(&format!("{prefix}{key_prefix}"))),
            Self::HashTagged => format!("{}{{*}}{}*", glob_escape(prefix), glob_escape(key_prefix)),
        }
    }
}

/// The group of `key` (module documentation), cut at its first `}`.
fn tag(key: &str) -> &str {
    let group = own_tag(key)
        .or_else(|| key.split_once(':').map(|(_, id)| id))
        .unwrap_or(key);
    group.split('}').next().unwrap_or(group)
}

/// The key's own hash tag by Redis's rule: after the first `{`, up to the next `}`, not empty.
fn own_tag(key: &str) -> Option<&str> {
    let (_, after) = key.split_once('{')?;
    let (tag, _) = after.split_once('}')?;
    (!tag.is_empty()).then_some(tag)
}

/// Escapes glob metacharacters so a prefix matches literally in `SCAN MATCH`.
pub(super) fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 1);
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use redis::cluster_routing::Slot;

    const TAGGED: KeyLayout = KeyLayout::HashTagged;

    fn slot(layout: KeyLayout, key: &str) -> Slot {
        Slot::for_key(layout.absolute("nv:", key))
    }

    #[test]
    fn a_single_node_key_is_the_prefix_and_the_key() {
        assert_eq!(KeyLayout::Plain.absolute("nv:", "code:ab"), "nv:code:ab");
        assert_eq!(
            KeyLayout::Plain.relative("nv:", "nv:code:ab"),
            Some("code:ab")
        );
        assert_eq!(KeyLayout::Plain.relative("nv:", "other:code:ab"), None);
    }

    #[test]
    fn a_cluster_key_is_tagged_with_its_identifier() {
        assert_eq!(TAGGED.absolute("nv:", "code:ab"), "nv:{ab}code:ab");
        assert_eq!(
            TAGGED.absolute("nv:", "lease:2001:db8::/64"),
            "nv:{2001:db8::/64}lease:2001:db8::/64"
        );
        assert_eq!(
            TAGGED.absolute("nv:", "assertion-jti:c:j"),
            "nv:{c:j}assertion-jti:c:j"
        );
        assert_eq!(TAGGED.absolute("nv:", "session"), "nv:{session}session");
    }

    #[test]
    fn keys_about_one_identifier_share_a_slot() {
        assert_eq!(
            slot(TAGGED, "code:ab12"),
            slot(TAGGED, "code-redeemed:ab12")
        );
        assert_eq!(
            slot(TAGGED, "lease:100.64.0.1/32"),
            slot(TAGGED, "lease-history:100.64.0.1/32")
        );
        assert_ne!(slot(TAGGED, "code:ab12"), slot(TAGGED, "code:ab13"));
    }

    #[test]
    fn a_key_with_its_own_hash_tag_is_placed_by_it() {
        assert_eq!(
            TAGGED.absolute("nv:", "acct:{nas-1}:42"),
            "nv:{nas-1}acct:{nas-1}:42"
        );
        assert_eq!(
            slot(TAGGED, "acct:{nas-1}:42"),
            slot(TAGGED, "acct-index:{nas-1}")
        );
        // The same key on one node: Redis's own rule gives the same grouping.
        assert_eq!(
            slot(KeyLayout::Plain, "acct:{nas-1}:42"),
            slot(KeyLayout::Plain, "acct-index:{nas-1}")
        );
    }

    #[test]
    fn braces_in_a_group_never_move_the_tag() {
        // `}` before any `{`: no own tag; the group after `:` is cut at the `}`.
        assert_eq!(TAGGED.absolute("nv:", "x:a}b"), "nv:{a}x:a}b");
        // An empty own tag is no tag (Redis's rule): the group is what follows the `:`.
        assert_eq!(TAGGED.absolute("nv:", "x:{}y"), "nv:{{}x:{}y");
        assert_eq!(TAGGED.relative("nv:", "nv:{{}x:{}y"), Some("x:{}y"));
        // An empty group: `{}`, placed by the whole name.
        assert_eq!(TAGGED.absolute("nv:", "x:"), "nv:{}x:");
        assert_eq!(TAGGED.relative("nv:", "nv:{}x:"), Some("x:"));
    }

    #[test]
    fn foreign_cluster_keys_are_not_read_back() {
        assert_eq!(TAGGED.relative("nv:", "nv:code:ab"), None);
        assert_eq!(TAGGED.relative("nv:", "nv:{zz}code:ab"), None);
        assert_eq!(TAGGED.relative("nv:", "nv:{ab"), None);
        assert_eq!(TAGGED.relative("nv:", "other:{ab}code:ab"), None);
    }

    #[test]
    fn scan_patterns_escape_glob_characters() {
        assert_eq!(
            KeyLayout::Plain.scan_pattern("nv:", "ip*[a]?\\"),
            "nv:ip\\*\\[a\\]\\?\\\\*"
        );
        assert_eq!(TAGGED.scan_pattern("nv:", "lease:"), "nv:{*}lease:*");
        assert_eq!(TAGGED.scan_pattern("n*:", "a?"), "n\\*:{*}a\\?*");
    }

    proptest! {
        #[test]
        fn every_key_reads_back_and_one_group_is_one_slot(
            kind in "[a-z{}-]{0,6}",
            id in "[a-z0-9:{}/.]{0,12}",
            other_kind in "[a-z-]{1,6}",
        ) {
            for layout in [KeyLayout::Plain, TAGGED] {
                let key = format!("{kind}:{id}");
                let absolute = layout.absolute("nv:", &key);
                prop_assert_eq!(layout.relative("nv:", &absolute), Some(key.as_str()));
            }
            // Two kinds of one identifier (without a tag of its own in the kind) share a slot,
            // unless the group is empty and each key is placed by its whole name.
            let a = format!("{other_kind}:{id}");
            let b = format!("{other_kind}-index:{id}");
            if !tag(&a).is_empty() {
                prop_assert_eq!(slot(TAGGED, &a), slot(TAGGED, &b));
            }
        }
    }
}
