//! Request parameters of `/authorize` and `/token`.
//!
//! RFC 6749 §3.1 / §3.2: "Request and response parameters MUST NOT be included more than once"
//! and "parameters sent without a value MUST be treated as if they were omitted from the request".
//! Off-the-shelf extractors silently keep the first or last duplicate, so parameters are parsed here.

use std::collections::HashMap;

/// Parameters with their values (the first of duplicates kept, and the duplicate remembered so
/// the endpoint can refuse it in the right form), empty values dropped.
#[derive(Default, Clone)]
pub struct Params {
    map: HashMap<String, String>,
    duplicated: Vec<String>,
}

impl std::fmt::Debug for Params {
    // Values can be codes, secrets, assertions or phone numbers: print only the names.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.map.keys()).finish()
    }
}

impl Params {
    pub fn parse(urlencoded: &[u8]) -> Self {
        let mut map = HashMap::new();
        let mut seen = std::collections::HashSet::new();
        let mut duplicated = Vec::new();
        for (k, v) in url::form_urlencoded::parse(urlencoded) {
            if !seen.insert(k.to_string()) {
                duplicated.push(k.into_owned());
                continue;
            }
            if !v.is_empty() {
                map.insert(k.into_owned(), v.into_owned());
            }
        }
        Self { map, duplicated }
    }

    /// Parameters from a request object (RFC 9101): names are JSON keys, so never duplicated.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        Self {
            map: pairs.into_iter().filter(|(_, v)| !v.is_empty()).collect(),
            duplicated: Vec::new(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// The names sent (with a value), in no particular order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(String::as_str)
    }

    /// Whether `name` was sent more than once.
    pub fn is_duplicated(&self, name: &str) -> bool {
        self.duplicated.iter().any(|d| d == name)
    }

    /// The first parameter sent more than once, if any.
    pub fn first_duplicate(&self) -> Option<&str> {
        self.duplicated.first().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_refused_and_empty_values_are_absent() {
        let p = Params::parse(b"a=1&a=2");
        assert!(p.is_duplicated("a"));
        assert_eq!(p.first_duplicate(), Some("a"));
        let p = Params::parse(b"a=&b=x%20y");
        assert_eq!(p.first_duplicate(), None);
        assert_eq!(p.get("a"), None);
        assert_eq!(p.get("b"), Some("x y"));
    }

    #[test]
    fn debug_shows_names_not_values() {
        let p = Params::parse(b"client_secret=hunter2");
        assert!(!format!("{p:?}").contains("hunter2"));
    }
}
