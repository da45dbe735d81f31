//! What judges a field a venue signs: the vocabulary of the judged-or-inert
//! tables (`venue::fields` and each venue's own `fields`), apart from the
//! tables so that a venue's table and the one that gathers them do not
//! import each other.

/// What judges a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A policy rule, a refusal or a config check: its rule codes or what.
    Judged(&'static str),
    /// Moves no value: why.
    Inert(&'static str),
}
