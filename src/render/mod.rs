//! Rendering: turns findings, facts and rules into text for people (`human`)
//! and programs (`json`). Renderers decide nothing; they only print.

pub mod human;
pub mod json;
pub mod style;

pub use json::SCHEMA_VERSION;
