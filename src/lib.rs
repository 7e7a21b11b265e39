//! twtune: find and fix TIME_WAIT-related TCP settings, with evidence.
//!
//! Data flows one way: [`facts`] → [`rules`] (pure: facts in, findings out)
//! → [`apply`] (findings → plan → diff or atomic apply) → [`render`] (prints
//! what the other layers decided). The binary (`src/main.rs`,
//! `src/commands/`) wires them together.
//!
//! Three places touch the host, each for a reason of its own, and all under
//! the `--root` path:
//! - [`facts`] reads the host to judge it: everything the rules see.
//! - [`apply`] reads and writes exactly what it changes: the keys in a plan
//!   (through the one sysctl reader, [`facts::read_sysctl`]), the persisted
//!   file, and its own state folder. It does not plan from the facts, because
//!   a plan covers what the facts do not hold — any managed key `--set` names,
//!   the persisted file's whole text for its diff — and because it must
//!   describe the host as it is under the lock the apply takes (the executor
//!   re-reads every key and the file under that lock and refuses a stale plan).
//! - [`rules::load`] reads rule files (built in, the tree's
//!   `etc/twtune/rules.d`, `--rules`): input to the judging, not facts about
//!   the host; bounded like every file twtune reads ([`facts::read_bounded`]).
//!
//! Files are written one way ([`atomic`]) and host paths translated to and
//! from a `--root` tree one way ([`host_path`]).

pub mod apply;
pub mod atomic;
pub mod cli;
pub mod exit_code;
pub mod facts;
#[doc(hidden)]
pub mod fuzzing;
pub mod host_path;
pub mod k8s_version;
pub mod render;
pub mod rules;
pub mod suggest;
pub mod sysctl;
