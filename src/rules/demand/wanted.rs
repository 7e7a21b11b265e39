//! What the view must bind below `persisted`: the answer [`super`] works
//! out from the loaded rules, kept apart so the view reads it without
//! depending on how rules are loaded.

use std::collections::BTreeSet;

/// What the loaded rules can read below `persisted`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Demand {
    /// Something names `persisted` itself, or a text could not be scanned.
    pub(super) everything: bool,
    /// Members named as a whole (`drift`, `refused`, `settings`, …).
    pub(super) members: BTreeSet<String>,
    /// `persisted.settings` filtered by these literal keys only.
    pub(super) setting_keys: BTreeSet<String>,
    /// … and by the key of each drift item (`s.key == item.key` under
    /// `for_each = "persisted.drift"`).
    pub(super) drift_keys: bool,
}

/// Which settings the view's `persisted.settings` must hold.
#[derive(Debug, PartialEq, Eq)]
pub enum Settings<'a> {
    /// Every one: some rule walks the list.
    All,
    /// Those whose key is one of these, or (when `drift` is set) the key of
    /// a drift item.
    Keys {
        keys: &'a BTreeSet<String>,
        drift: bool,
    },
}

impl Demand {
    /// Everything: the schema view, and anything not driven by rules.
    pub fn everything() -> Self {
        Demand {
            everything: true,
            ..Demand::default()
        }
    }

    /// Whether the view needs `persisted.<member>` at all.
    pub fn wants(&self, member: &str) -> bool {
        self.everything
            || self.members.contains(member)
            || (member == "settings" && (!self.setting_keys.is_empty() || self.drift_keys))
            || (member == "drift" && self.drift_keys)
    }

    /// Which settings `persisted.settings` must hold (when it is wanted).
    pub fn settings(&self) -> Settings<'_> {
        if self.everything || self.members.contains("settings") {
            Settings::All
        } else {
            Settings::Keys {
                keys: &self.setting_keys,
                drift: self.drift_keys,
            }
        }
    }
}
