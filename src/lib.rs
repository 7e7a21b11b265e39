//! twtune: find and fix TIME_WAIT-related TCP settings, with evidence.
//!
//! Data flows one way: [`facts`] (the only layer that reads the host) →
//! [`rules`] (pure: facts in, findings out) → [`apply`] (findings → plan →
//! diff or atomic apply) → [`render`] (prints what the other layers decided).
//! The binary (`src/main.rs`, `src/commands/`) wires them together.

pub mod apply;
pub mod cli;
pub mod exit_code;
pub mod facts;
#[doc(hidden)]
pub mod fuzzing;
pub mod render;
pub mod rules;
pub mod sysctl;
