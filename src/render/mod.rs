//! Rendering findings, facts and plans for people and programs.
pub mod plan;
