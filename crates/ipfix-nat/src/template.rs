//! Template and options template records (RFC 7011 §3.4.1, §3.4.2), withdrawals (§8.1), and
//! the templates one transport session holds, per observation domain (§8: a template is scoped
//! to the session and domain that sent it; a collector must not apply it to any other).

use std::collections::HashMap;

use crate::message::{MIN_DATA_SET, OPTIONS_TEMPLATE_SET, TEMPLATE_SET};

/// A field length meaning "variable length, encoded in the record" (RFC 7011 §7).
pub const VARIABLE_LENGTH: u16 = 65535;
/// Templates one session may hold over all its domains: an exporter cannot grow the
/// collector's memory without bound.
pub const MAX_TEMPLATES: usize = 4096;

/// One field specifier (RFC 7011 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The information element id, without the enterprise bit.
    pub id: u16,
    /// Set for an enterprise-specific element; `None` for an IANA one.
    pub enterprise: Option<u32>,
    /// Octets, or [`VARIABLE_LENGTH`].
    pub length: u16,
}

impl Field {
    /// The IANA information element `id`.
    pub fn is_iana(&self, id: u16) -> bool {
        self.enterprise.is_none() && self.id == id
    }
}

/// The fields a data set's records are laid out by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub fields: Vec<Field>,
    /// From an options template set (its records describe the exporter, not NAT events).
    pub options: bool,
}

impl Template {
    /// The shortest record this template can describe (variable-length fields count their
    /// one-octet length). What is left in a set below this is padding (RFC 7011 §3.3.1).
    pub fn min_record_len(&self) -> usize {
        self.fields
            .iter()
            .map(|f| match f.length {
                VARIABLE_LENGTH => 1,
                n => usize::from(n),
            })
            .sum()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("a template record runs past its set")]
    Truncated,
    #[error("template id {0} is below 256")]
    ReservedId(u16),
    #[error("a template whose records would be empty")]
    EmptyRecord,
    #[error("an options template's scope field count is 0 or above its field count")]
    BadScopeCount,
    #[error("the session holds too many templates")]
    TooMany,
}

/// What one template set did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateUpdate {
    pub defined: usize,
    pub withdrawn: usize,
}

/// The templates of one transport session (one exporter address and port over UDP), per
/// observation domain.
#[derive(Debug, Default)]
pub struct Templates {
    by_id: HashMap<(u32, u16), Template>,
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn u16(&mut self) -> Result<u16, TemplateError> {
        let (a, rest) = self
            .0
            .split_first_chunk::<2>()
            .ok_or(TemplateError::Truncated)?;
        self.0 = rest;
        Ok(u16::from_be_bytes(*a))
    }

    fn u32(&mut self) -> Result<u32, TemplateError> {
        let (a, rest) = self
            .0
            .split_first_chunk::<4>()
            .ok_or(TemplateError::Truncated)?;
        self.0 = rest;
        Ok(u32::from_be_bytes(*a))
    }
}

impl Templates {
    pub fn get(&self, domain: u32, id: u16) -> Option<&Template> {
        self.by_id.get(&(domain, id))
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Apply a template or options template set (`set_id` 2 or 3) of `domain`. The set is
    /// parsed whole before anything changes: a malformed set defines and withdraws nothing.
    pub fn apply(
        &mut self,
        domain: u32,
        set_id: u16,
        body: &[u8],
    ) -> Result<TemplateUpdate, TemplateError> {
        let options = set_id == OPTIONS_TEMPLATE_SET;
        debug_assert!(options || set_id == TEMPLATE_SET);
        let header = if options { 6 } else { 4 };
        let mut defined = Vec::new();
        let mut withdrawn = Vec::new();
        let mut r = Reader(body);
        // Fewer octets than a record header left: padding (RFC 7011 §3.3.1).
        while r.0.len() >= header {
            let id = r.u16()?;
            let count = r.u16()?;
            if count == 0 {
                // Withdrawal (§8.1): the template, or with the set's own id every template of
                // that kind in the domain. An options withdrawal record is 4 octets too.
                if id != set_id && id < MIN_DATA_SET {
                    return Err(TemplateError::ReservedId(id));
                }
                withdrawn.push(id);
                continue;
            }
            if id < MIN_DATA_SET {
                return Err(TemplateError::ReservedId(id));
            }
            let scope = if options { r.u16()? } else { 0 };
            if options && (scope == 0 || scope > count) {
                return Err(TemplateError::BadScopeCount);
            }
            let mut fields = Vec::with_capacity(usize::from(count).min(r.0.len() / 4));
            for _ in 0..count {
                let raw = r.u16()?;
                let length = r.u16()?;
                let enterprise = if raw & 0x8000 != 0 {
                    Some(r.u32()?)
                } else {
                    None
                };
                fields.push(Field {
                    id: raw & 0x7fff,
                    enterprise,
                    length,
                });
            }
            let template = Template { fields, options };
            // A record of no octets would make a data set an endless run of records.
            if template.min_record_len() == 0 {
                return Err(TemplateError::EmptyRecord);
            }
            defined.push((id, template));
        }
        let mut update = TemplateUpdate::default();
        for id in withdrawn {
            let before = self.by_id.len();
            if id == set_id {
                self.by_id
                    .retain(|(d, _), t| *d != domain || t.options != options);
            } else {
                self.by_id.remove(&(domain, id));
            }
            update.withdrawn += before - self.by_id.len();
        }
        for (id, template) in defined {
            let key = (domain, id);
            if !self.by_id.contains_key(&key) && self.by_id.len() >= MAX_TEMPLATES {
                return Err(TemplateError::TooMany);
            }
            // A template id redefined without withdrawal replaces the old one (§8.1 says an
            // exporter must withdraw first; the newest definition is what it now sends).
            self.by_id.insert(key, template);
            update.defined += 1;
        }
        Ok(update)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(id: u16, len: u16) -> [u8; 4] {
        let mut f = [0; 4];
        f[..2].copy_from_slice(&id.to_be_bytes());
        f[2..].copy_from_slice(&len.to_be_bytes());
        f
    }

    #[test]
    fn templates_are_kept_per_domain_and_withdrawn_one_by_one_or_all_at_once() {
        let mut t = Templates::default();
        let mut set = vec![1, 0, 0, 2];
        set.extend(field(230, 1));
        set.extend(field(8, 4));
        set.extend([0, 0]); // padding
        assert_eq!(t.apply(1, 2, &set).unwrap().defined, 1);
        assert_eq!(t.apply(2, 2, &set).unwrap().defined, 1);
        assert!(t.get(1, 256).is_some() && t.get(3, 256).is_none());
        assert_eq!(t.get(1, 256).unwrap().min_record_len(), 5);
        assert_eq!(t.apply(1, 2, &[1, 0, 0, 0]).unwrap().withdrawn, 1);
        assert!(t.get(1, 256).is_none() && t.get(2, 256).is_some());
        assert_eq!(t.apply(2, 2, &[0, 2, 0, 0]).unwrap().withdrawn, 1);
        assert!(t.is_empty());
    }

    #[test]
    fn enterprise_and_variable_length_fields_are_read() {
        let mut t = Templates::default();
        let mut set = vec![1, 1, 0, 2];
        set.extend([0x80, 5, 0xff, 0xff, 0, 0, 0x0b, 0x8f]);
        set.extend(field(225, 4));
        t.apply(0, 2, &set).unwrap();
        let tpl = t.get(0, 257).unwrap();
        assert_eq!(
            tpl.fields[0],
            Field {
                id: 5,
                enterprise: Some(2959),
                length: VARIABLE_LENGTH
            }
        );
        assert!(tpl.fields[1].is_iana(225));
    }

    #[test]
    fn malformed_template_sets_change_nothing() {
        let mut t = Templates::default();
        let mut ok = vec![1, 0, 0, 1];
        ok.extend(field(8, 4));
        let mut bad = ok.clone();
        bad.extend([1, 1, 0, 5, 0, 8]);
        assert_eq!(t.apply(0, 2, &bad), Err(TemplateError::Truncated));
        assert!(t.is_empty());
        assert_eq!(
            t.apply(0, 2, &[0, 200, 0, 1, 0, 8, 0, 4]),
            Err(TemplateError::ReservedId(200))
        );
        assert_eq!(
            t.apply(0, 2, &[1, 0, 0, 1, 0, 8, 0, 0]),
            Err(TemplateError::EmptyRecord)
        );
        assert_eq!(
            t.apply(0, 3, &[1, 0, 0, 1, 0, 0, 0, 8, 0, 4]),
            Err(TemplateError::BadScopeCount)
        );
    }

    #[test]
    fn a_session_cannot_hold_more_than_the_cap() {
        let mut t = Templates::default();
        for domain in 0..(MAX_TEMPLATES as u32) {
            t.apply(domain, 2, &[1, 0, 0, 1, 0, 8, 0, 4]).unwrap();
        }
        assert_eq!(
            t.apply(u32::MAX, 2, &[1, 0, 0, 1, 0, 8, 0, 4]),
            Err(TemplateError::TooMany)
        );
        // Redefining one it holds is fine.
        assert!(t.apply(0, 2, &[1, 0, 0, 1, 0, 8, 0, 4]).is_ok());
    }
}
