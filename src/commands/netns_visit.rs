//! Visiting the namespaces of `check --all-netns`: holding each open,
//! entering it, gathering there and judging what was gathered. Shared by
//! the plain run (`netns`) and the sampled one (`netns_sample`).

use anyhow::Context as _;
use twtune::cli::Cli;
use twtune::exit_code::Status;
use twtune::facts::namespace::Identity;
use twtune::facts::netns::{self, Namespace};
use twtune::facts::{self, GatherOptions};
use twtune::render::netns::{self as table, Checked, Row, Skipped};
use twtune::rules;

/// Every namespace checked, and those listed but not.
pub struct AllChecked {
    /// What is kept of each namespace checked, in the order checked.
    pub checked: Vec<Done>,
    pub skipped: Vec<Skipped>,
    /// A namespace could not be gathered for a reason other than vanishing.
    pub failed: bool,
    /// What the rules can name of the persisted settings: worked out for
    /// the first namespace judged, not for each.
    demand: Option<rules::demand::Demand>,
    keep: Keep,
    /// Every namespace's JSON entry, one after the other ([`Kept::Json`]).
    pub json: Vec<u8>,
}

/// What the output needs of each namespace checked, kept from the moment it
/// is judged until every one is: the facts themselves only for the
/// Prometheus exposition (whose samples carry the run's duration, known at
/// the end); the document's entry or the table's row otherwise, so memory
/// does not grow by a whole set of facts per namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    Whole,
    Json,
    /// With `--verbose`, each finding's line too.
    Row {
        verbose: bool,
    },
}

/// What is kept of one namespace checked (see [`Keep`]).
pub struct Done {
    pub inode: u64,
    /// Its place in the output ([`table::order`]).
    pub order: (bool, u64),
    pub status: Status,
    /// The rules refused while judging it, for the error lines.
    pub errors: Vec<String>,
    pub kept: Kept,
}

pub enum Kept {
    Whole(Box<Checked>),
    /// Where its `namespaces[]` entry ([`table::entry_json`]) is in
    /// [`AllChecked::json`].
    Json(std::ops::Range<usize>),
    /// Its table row and, with `--verbose`, its findings' lines.
    Row {
        row: Row,
        findings: Vec<String>,
    },
}

impl Done {
    /// The whole check, when its namespace was kept whole ([`Keep::Whole`]).
    pub fn whole(&self) -> Option<&Checked> {
        match &self.kept {
            Kept::Whole(checked) => Some(checked),
            _ => None,
        }
    }

    fn of(checked: Checked, keep: Keep, json: &mut Vec<u8>) -> anyhow::Result<Done> {
        let kept = match keep {
            Keep::Whole => None,
            Keep::Json => {
                let start = json.len();
                table::entry_json(&checked, json).context("rendering a namespace's JSON")?;
                Some(Kept::Json(start..json.len()))
            }
            Keep::Row { verbose } => Some(Kept::Row {
                row: table::row(&checked),
                findings: match verbose {
                    true => checked
                        .evaluation
                        .findings
                        .iter()
                        .map(|f| {
                            format!(
                                "{} [{}] {}: {}",
                                checked.inode,
                                f.severity.as_str(),
                                f.rule,
                                f.summary
                            )
                        })
                        .collect(),
                    false => Vec::new(),
                },
            }),
        };
        Ok(Done {
            inode: checked.inode,
            order: table::order(&checked),
            status: checked.status(),
            errors: checked
                .evaluation
                .errors
                .iter()
                .map(ToString::to_string)
                .collect(),
            kept: kept.unwrap_or_else(|| Kept::Whole(Box::new(checked))),
        })
    }
}

/// A listed namespace, held open: it cannot vanish while it is read.
pub struct Held {
    pub found: netns::Listed,
    pub namespace: Namespace,
}

/// Opens a listed namespace, or skips it (gone before it could be entered).
pub fn hold(mut found: netns::Listed, skipped: &mut Vec<Skipped>) -> Option<Held> {
    match netns::open_listed(&found) {
        Some(namespace) => {
            // A process seen in the namespace at the listing may have left
            // it since: one passing through, such as another twtune checking
            // every namespace in turn, is no process of this namespace.
            // Asked again after the gathering, which outlasts such a visit.
            still_inside(&mut found);
            Some(Held { found, namespace })
        }
        None => {
            skipped.push(Skipped {
                inode: found.inode,
                reason: "gone before it could be entered".into(),
            });
            None
        }
    }
}

/// Moves the main thread into a held namespace; false (and skipped) when
/// it is no network namespace.
pub fn enter(held: &Held, skipped: &mut Vec<Skipped>) -> anyhow::Result<bool> {
    match held.namespace.enter() {
        Ok(()) => Ok(true),
        // A bind mount under /run/netns does not show the type of the
        // namespace it holds; setns(2) refuses one of another type with
        // EINVAL (kernel/nsproxy.c, validate_ns()). Not a network
        // namespace, so not one to check: listed, never an abort.
        Err(netns::NetnsError::Enter {
            source: nix::Error::EINVAL,
            ..
        }) => {
            skipped.push(Skipped {
                inode: held.found.inode,
                reason: format!(
                    "not a network namespace ({} holds another type of namespace)",
                    describe_holder(&held.found)
                ),
            });
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

/// How a namespace is gathered: live, with its identity known. Every
/// namespace's nf_tables rules are read over netlink; nft (when that fails)
/// and iptables-save (for a legacy nat table) are started in twtune's own
/// namespace only: a process each, at a hundred namespaces they would be most
/// of the run.
pub fn options_for(cli: &Cli, home: &Namespace, found: &netns::Listed) -> GatherOptions {
    let identity = Identity {
        target: None,
        names: found.names.clone(),
        holder_pid: found.pids.first().copied(),
    };
    GatherOptions::of(super::pipeline::source(cli))
        .with_namespace(Some(identity))
        .with_nat_tools(found.inode == home.inode)
}

/// Gathers in the namespace the main thread entered (with a sample's
/// first readings and trace, for `--sample`), then returns home.
pub fn gather_entered(
    cli: &Cli,
    home: &Namespace,
    held: &Held,
    sampled: Option<(facts::sampling::SampleStart, facts::trace::Trace)>,
) -> anyhow::Result<Result<facts::Facts, facts::FactError>> {
    let options = options_for(cli, home, &held.found);
    let gathered = {
        // Dropped before leaving: the folders show this namespace's values.
        let _folders = facts::netns_dirs::Opened::here(options.root());
        facts::Prelude::read(&options).and_then(|p| p.conclude(&options, sampled))
    };
    home.enter()
        .context("returning to twtune's own network namespace")?;
    Ok(gathered)
}

impl AllChecked {
    /// The namespaces kept whole ([`Keep::Whole`]), in the order checked.
    pub fn into_whole(self) -> Vec<Checked> {
        self.checked
            .into_iter()
            .filter_map(|done| match done.kept {
                Kept::Whole(checked) => Some(*checked),
                _ => None,
            })
            .collect()
    }

    pub fn new(keep: Keep) -> AllChecked {
        AllChecked {
            checked: Vec::new(),
            skipped: Vec::new(),
            failed: false,
            demand: None,
            keep,
            json: Vec::new(),
        }
    }

    /// Judges what was gathered in one namespace and keeps what the output
    /// needs of it (or skips it, when gathering failed).
    pub fn judge(
        &mut self,
        rule_set: &rules::RuleSet,
        found: netns::Listed,
        gathered: Result<facts::Facts, facts::FactError>,
    ) -> anyhow::Result<()> {
        let mut found = found;
        still_inside(&mut found);
        let facts = match gathered {
            Ok(facts) => facts,
            Err(err) => {
                self.failed = true;
                self.skipped.push(Skipped {
                    inode: found.inode,
                    reason: format!("gathering failed: {err}"),
                });
                return Ok(());
            }
        };
        let holder = found.pids.first().map(|&pid| {
            let started =
                twtune::facts::process::start_time(std::path::Path::new(&format!("/proc/{pid}")));
            (pid, started)
        });
        let demand = self
            .demand
            .get_or_insert_with(|| rules::demand::Demand::of(rule_set));
        let evaluation = rules::eval::evaluate_with(rule_set, &facts, demand);
        // The host's own namespace belongs to no container, whatever runs in it.
        let (container, pod) = match facts.namespace.initial {
            Some(true) => (None, None),
            _ => (
                netns::container_of_pids(&found.pids, found.inode, 16),
                twtune::facts::pod::of_pids(&found.pids, found.inode, 16),
            ),
        };
        let checked = Checked {
            inode: found.inode,
            command: holder.and_then(|(pid, started)| {
                // Named only while it is still the process listed in it.
                netns::command_of(pid, started)
                    .filter(|_| netns::pid_net_inode(pid) == Some(found.inode))
            }),
            names: found.names,
            pids: found.pids,
            container,
            pod,
            facts,
            evaluation,
        };
        self.checked
            .push(Done::of(checked, self.keep, &mut self.json)?);
        Ok(())
    }
}

/// Where a listed namespace was found, for people.
fn describe_holder(found: &netns::Listed) -> String {
    let path = found
        .names
        .first()
        .map(|n| std::path::Path::new(netns::NETNS_RUN_DIR).join(n))
        .or_else(|| found.held_by.first().cloned())
        .unwrap_or_default();
    twtune::render::escape::text(&path.display().to_string()).into_owned()
}

/// Keeps the processes listed in `found` that are in it still.
fn still_inside(found: &mut netns::Listed) {
    let inode = found.inode;
    found
        .pids
        .retain(|&pid| netns::pid_net_inode(pid) == Some(inode));
}
