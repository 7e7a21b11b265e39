//! Planning and applying changes (issue #4): findings and `--set` overrides
//! become a [`plan::Plan`]; `--dry-run` shows it as diffs; [`executor`]
//! carries it out so that a host is never left half-tuned.
//!
//! Layers, each usable alone: [`value`] (what a key may hold), [`runtime`]
//! (one /proc/sys key), [`dropin`] (the persisted file), [`journal`] and
//! [`lock`] (crash and concurrency safety), [`plan`], [`executor`].

pub mod confine;
pub mod dropin;
pub mod executor;
pub mod journal;
pub mod lock;
pub mod manual;
pub mod plan;
pub mod runtime;
pub mod state;
pub mod value;

pub use executor::{ApplyError, Options};
pub use journal::{Interrupted, interrupted};
pub use plan::{Plan, PlanError, Request, Scope};
