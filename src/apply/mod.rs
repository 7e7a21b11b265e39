//! Planning and applying changes: findings and `--set` overrides become a
//! [`plan::Plan`]; `--dry-run` shows it as diffs; [`executor`] carries it out
//! so that a host is never left half-tuned.
//!
//! This layer reads the host as well as writing it, and only what it
//! changes: each planned key's value now (through the one sysctl reader,
//! [`crate::facts::read_sysctl`]), the persisted file, and its state folder.
//! Planning reads them rather than taking them from the facts because a plan
//! covers keys the facts do not gather (any managed key `--set` names) and
//! the persisted file's whole text (its diff), and because it must show the
//! host as it is under the lock the apply holds; the executor reads them
//! again under that lock and refuses a plan gone stale.
//!
//! Layers, each usable alone: [`value`] (what a key may hold), [`runtime`]
//! (one /proc/sys key), [`dropin`] (the persisted file), [`state`] (the
//! state folder and the names in it), [`lock`] and [`journal`] (concurrency
//! and crash safety), [`confine`] (writes stay inside `--root`), [`plan`],
//! [`executor`], [`manual`] (what only a person can fix). No two of them
//! import each other.

pub mod confine;
pub mod dropin;
pub mod executor;
pub mod journal;
pub mod kubernetes;
pub mod lock;
pub mod manual;
pub mod plan;
pub mod runtime;
pub mod state;
pub mod value;

pub use executor::{ApplyError, Options};
pub use journal::{Interrupted, interrupted};
pub use plan::{Plan, PlanError, Request, Scope};
