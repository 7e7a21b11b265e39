//! Rendering findings, facts and plans for people and programs.
