//! A query by e-mail address: the one rule that turns an address into the subject whose
//! events it selects (docs/PRIVACY.md, "The blind index"), for the CLI and the server
//! alike.

use super::Filter;
use crate::error::Result;
use crate::log::Log;

/// What [`Log::narrow_to_email`] made of an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailNarrowing {
    /// The filter now selects the events of the one subject the address was seen with,
    /// or nothing (an address never seen, or whose subject was erased).
    Narrowed,
    /// The address was seen with several subjects that have events the filter selects:
    /// the filter is unchanged, and the caller asks for one of them by actor. Whether to
    /// name them is the caller's choice.
    Several(Vec<String>),
}

impl Log {
    /// Narrows `filter` to the subject `email` was seen with, through the blind index.
    /// Only subjects with events the filter selects count: whether the address was seen
    /// elsewhere (another tenant) is not the caller's to know, and one subject needs no
    /// count (out of the filter's scope, narrowing to it selects nothing). Needs the log
    /// opened with its key-encryption key.
    pub fn narrow_to_email(&self, filter: &mut Filter, email: &str) -> Result<EmailNarrowing> {
        let mut subjects = self.subjects_with_email(email)?;
        if subjects.len() > 1 {
            let mut in_scope = Vec::new();
            for subject in subjects {
                let mut theirs = filter.clone();
                theirs.narrow_to_actor(Some(&subject));
                if self.count(&theirs)?.0.total > 0 {
                    in_scope.push(subject);
                }
            }
            subjects = in_scope;
        }
        match &subjects[..] {
            [] => filter.narrow_to_actor(None),
            [subject] => filter.narrow_to_actor(Some(subject)),
            _ => return Ok(EmailNarrowing::Several(subjects)),
        }
        Ok(EmailNarrowing::Narrowed)
    }
}
