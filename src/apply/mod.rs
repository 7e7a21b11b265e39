//! Planning and applying changes. See issue #4.
