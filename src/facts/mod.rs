//! Gathering facts: everything the rules judge, read from the host.
//!
//! The other code that touches the host is named in the crate docs: `apply`
//! reads (and writes) only what it changes, through this module's readers
//! ([`read_sysctl`], [`read_bounded`]); rule files are read by `rules::load`.
//!
//! Every path is joined to a root (`--root DIR`, default `/`), so a fixture
//! tree stands in for a host. Each source has its own module with a parser that
//! takes text; the private `read` module opens files (bounded, without
//! blocking, confined to the root) and this module assembles [`Facts`].
//!
//! Missing files are facts ("absent"); unreadable or garbled ones are errors
//! that name the file. A kernel release that does not parse is not an error:
//! version-dependent rules are then undecided, and the run reports them.

pub mod cgroup;
pub mod counters;
pub mod kernel;
pub mod live;
pub mod namespace;
pub mod nat;
pub mod netlink;
pub mod netns;
pub mod netns_dirs;
mod options;
pub mod owners;
pub mod persisted;
pub mod pod;
pub mod ports;
pub mod process;
pub mod rates;
mod read;
mod runtime_keys;
pub mod sampling;
pub mod sockets;
mod source;
pub mod tcp_state;
pub mod tools;
pub mod trace;

use std::collections::BTreeMap;
use std::path::Path;

use schemars::JsonSchema;
use serde::Serialize;

use crate::sysctl::{
    GATHERED_IPV4_KEYS, GATHERED_NETFILTER_KEYS, GATHERED_VENDOR_IPV4_KEYS, SysctlKey,
    normalize_value,
};
pub use counters::Counters;
pub use kernel::{KernelFacts, KernelVersion};
pub use namespace::NamespaceFacts;
pub use nat::NatFacts;
pub use options::GatherOptions;
pub use persisted::PersistedConfig;
pub use read::{
    BoundedReadError, ConfinedReads, FactError, MAX_FILE_BYTES, MAX_LINE_BYTES, metadata_confined,
    open_streaming, read_bounded, read_dir_confined, read_line_bounded, read_link_confined,
    read_optional,
};
pub use sockets::SocketFacts;
pub use source::Source;

/// Everything `twtune check` knows about the host. Serialised as `facts` in JSON.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Facts {
    pub kernel: KernelFacts,
    /// Runtime values of the gathered keys the kernel has: full dotted key →
    /// value as /proc shows it, whitespace runs folded to one space.
    pub sysctl: BTreeMap<String, String>,
    /// Gathered keys this kernel does not have.
    pub sysctl_absent: Vec<SysctlKey>,
    pub persisted: PersistedConfig,
    pub counters: Counters,
    pub namespace: NamespaceFacts,
    pub sockets: Option<SocketFacts>,
    pub nat: NatFacts,
    /// Counter rates from `check --sample`; null without it.
    pub rates: Option<rates::Rates>,
    /// Which root each part was read under.
    pub roots: Roots,
}

/// Which root each part of the facts was read under: `--root` puts both
/// under one tree; `--config-root` reads the persisted configuration under
/// its folder and everything live from the running system.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Roots {
    /// Where /proc, /proc/sys, netlink, the NAT rules, processes and
    /// namespaces were read: `/` for the running system, else a `--root` tree.
    pub live: String,
    /// Where the persisted configuration (sysctl.d folders,
    /// /etc/sysctl.conf, /etc/twtune/rules.d, the state folder) was read.
    pub config: String,
}

impl Facts {
    /// The runtime value of a full dotted key, if the kernel has it.
    pub fn sysctl(&self, key: &str) -> Option<&str> {
        self.sysctl.get(key).map(String::as_str)
    }

    /// The runtime value of a key parsed as one integer.
    pub fn sysctl_int(&self, key: &str) -> Option<i64> {
        self.sysctl(key)?.parse().ok()
    }
}

pub fn gather(options: &GatherOptions) -> Result<Facts, FactError> {
    let prelude = Prelude::read(options)?;
    // With --sample, the sockets are listed at both ends of the interval too,
    // so each destination gets its own rate of new connections.
    // As root on a live host the sample is also traced (facts::trace): who
    // connects, who closes first, whose connect() fails.
    let sampled = match options.sample {
        Some(interval) => {
            let mut tracer = sampling::tracer(options, trace::Tracer::start);
            let start = sampling::begin(options, tracer.is_ok())?;
            sampling::announce_started();
            rates::wait_with(interval, trace::POLL, || {
                if let Ok(t) = &mut tracer {
                    t.poll();
                }
            });
            let trace = match tracer {
                Ok(t) => t.finish(),
                Err(reason) => sampling::untraced(reason),
            };
            Some((start, trace))
        }
        None => None,
    };
    prelude.conclude(options, sampled)
}

/// What a gather reads before any sample: the roots checked, the kernel,
/// the runtime sysctls and the persisted configuration. `check --all-netns
/// --sample` reads it in each namespace after the one window, a single
/// check before its own.
pub struct Prelude {
    kernel: KernelFacts,
    sysctl: BTreeMap<String, String>,
    sysctl_absent: Vec<SysctlKey>,
    persisted: PersistedConfig,
}

impl Prelude {
    /// Reads the prelude in the calling thread's network namespace.
    pub fn read(options: &GatherOptions) -> Result<Prelude, FactError> {
        let root = options.root();
        if !root.is_dir() {
            return Err(FactError::NoRoot {
                path: root.to_path_buf(),
            });
        }
        let config_root = options.config_root();
        if !config_root.is_dir() {
            return Err(FactError::NoRoot {
                path: config_root.to_path_buf(),
            });
        }
        // The live root is `/` whenever a config root is given (the CLI refuses
        // both): confining to the config root confines every read of the
        // configuration, and /proc paths, outside it, are read as they are.
        let _confined = ConfinedReads::to(config_root);
        // Without the sysctls most rules cannot decide, and the rest would say
        // "no problems" about a tree that holds no host: refuse it instead.
        // A folder on the way that is a link is not "missing": the confined
        // reads and writes refuse it later, naming the link. lstat in order,
        // stopping at the first link, so no link is followed here.
        let ipv4 = root.join("proc/sys/net/ipv4");
        let linked = ["proc", "proc/sys", "proc/sys/net", "proc/sys/net/ipv4"]
            .iter()
            .any(|p| std::fs::symlink_metadata(root.join(p)).is_ok_and(|m| m.is_symlink()));
        if !linked && !metadata_confined(&ipv4).is_ok_and(|m| m.is_dir()) {
            return Err(FactError::NotAHostTree {
                root: root.to_path_buf(),
                missing: ipv4,
            });
        }

        let release_path = root.join("proc/sys/kernel/osrelease");
        let release = read_optional(&release_path)?;
        // A release that does not parse (a custom build) is not bad input: the
        // version-gated rules report themselves undecided, and everything else
        // still decides the verdict.
        let kernel = KernelFacts::from_release(release.as_deref());

        let mut persisted = persisted::gather(config_root)?;

        // Runtime values: the gathered keys, plus every managed key a file persists,
        // so drift between the two can be judged.
        let mut keys: Vec<SysctlKey> = GATHERED_IPV4_KEYS
            .iter()
            .chain(GATHERED_VENDOR_IPV4_KEYS)
            .map(|k| SysctlKey::ipv4(k))
            .collect();
        let optional: Vec<SysctlKey> = GATHERED_VENDOR_IPV4_KEYS
            .iter()
            .map(|k| SysctlKey::ipv4(k))
            .chain(
                GATHERED_NETFILTER_KEYS
                    .iter()
                    .filter_map(|k| SysctlKey::parse_managed(&format!("net.netfilter.{k}")).ok()),
            )
            .collect();
        keys.extend(
            optional
                .iter()
                .skip(GATHERED_VENDOR_IPV4_KEYS.len())
                .cloned(),
        );
        // `persisted.keys()` is sorted and without repeats: the gathered keys,
        // sorted too, are told apart by walking both in step, so a file with
        // 100,000 keys stays linear, and its keys are borrowed, not copied.
        let gathered = keys.len();
        let mut known: Vec<&str> = keys.iter().map(SysctlKey::as_str).collect();
        known.sort_unstable();
        let mut known = known.into_iter().peekable();
        let persisted_keys: Vec<&SysctlKey> = persisted
            .keys()
            .into_iter()
            .filter(|key| {
                while known.next_if(|k| *k < key.as_str()).is_some() {}
                known.peek() != Some(&key.as_str())
                    && key.is_managed()
                    && memchr::memchr(b'*', key.as_str().as_bytes()).is_none()
            })
            .collect();
        let mut sysctl = BTreeMap::new();
        let mut sysctl_absent = Vec::new();
        let mut listings = runtime_keys::Listings::default();
        for (index, key) in keys.iter().chain(persisted_keys).enumerate() {
            // Only the keys the files add are checked against folder listings:
            // the gathered ones are few, and almost all there.
            let value = match index < gathered || listings.may_exist(root, key) {
                true => read_sysctl(root, key)?,
                false => None,
            };
            match value {
                Some(value) => {
                    sysctl.insert(key.as_str().to_owned(), value);
                }
                // Optional keys (a vendor knob, conntrack not loaded) are
                // simply not there; the others are facts of this kernel.
                None if index < gathered && optional.contains(key) => {}
                None => sysctl_absent.push(key.clone()),
            }
        }
        // The gathered keys (a few) came first, the files' keys after them
        // already sorted: the few are sorted and put in their places.
        let files_first = sysctl_absent
            .iter()
            .position(|key| !keys.contains(key))
            .unwrap_or(sysctl_absent.len());
        let mut few: Vec<SysctlKey> = sysctl_absent.drain(..files_first).collect();
        few.sort();
        for key in few.into_iter().rev() {
            let at = sysctl_absent.partition_point(|k| *k < key);
            sysctl_absent.insert(at, key);
        }
        persisted::BootReplay {
            has_unprivileged_port_start: sysctl.contains_key("net.ipv4.ip_unprivileged_port_start"),
            tw_reuse_bounded: kernel.version.map(|v| v >= KernelVersion::new(4, 18, 0)),
        }
        .judge(&mut persisted);

        Ok(Prelude {
            kernel,
            sysctl,
            sysctl_absent,
            persisted,
        })
    }

    /// Reads the rest (counters, sockets, NAT) and assembles the facts; with
    /// `sampled`, the sample's start taken in this namespace and the trace
    /// of its window, whose rates are measured from that start to now.
    pub fn conclude(
        self,
        options: &GatherOptions,
        sampled: Option<(sampling::SampleStart, trace::Trace)>,
    ) -> Result<Facts, FactError> {
        let root = options.root();
        let _confined = ConfinedReads::to(options.config_root());
        let Prelude {
            kernel,
            sysctl,
            sysctl_absent,
            persisted,
        } = self;
        let (before, first_listing, trace) = match sampled {
            Some((start, trace)) => {
                let elapsed = start.started.elapsed();
                (
                    Some((start.before, elapsed)),
                    start.listing.map(|l| (l, elapsed)),
                    Some((trace, start.owners)),
                )
            }
            None => (None, None, None),
        };
        let counters = gather_counters(root)?;
        let rates = before.map(|(before, elapsed)| rates::compute(&before, &counters, elapsed));
        let namespace =
            namespace::gather(&options.source, kernel.version, options.namespace.as_ref())?;
        let mut sockets = sockets::gather(options, kernel.version, &sysctl, first_listing)?;
        if let (Some(sockets), Some((trace, owners))) = (&mut sockets, &trace) {
            sockets::creators::apply_trace(sockets, trace);
            if !trace.facts.is_traced() {
                sockets::creators::apply_transitions(sockets, options, owners);
            }
        }
        if let Some(sockets) = &mut sockets {
            sockets::name_top_creators(sockets);
        }
        let nat = nat::gather(
            options,
            sysctl.get("net.ipv4.ip_forward").map(String::as_str),
            &counters,
            rates.as_ref(),
        )?;

        Ok(Facts {
            kernel,
            sysctl,
            sysctl_absent,
            persisted,
            counters,
            namespace,
            sockets,
            nat,
            rates,
            roots: Roots {
                live: root.display().to_string(),
                config: options.config_root().display().to_string(),
            },
        })
    }
}

/// The runtime value of `key` under `root`, whitespace folded; `Ok(None)`
/// when this kernel does not have it.
///
/// The one sysctl reader: gathering and the apply side (planning, the stale
/// check under the lock, the read-back after each write) all read through it,
/// so a value reads the same everywhere — bounded and non-blocking like every
/// file ([`read_bounded`]), confined to a `--root` tree, UTF-8 or an error,
/// and held to [`check_runtime_value`].
pub fn read_sysctl(root: &Path, key: &SysctlKey) -> Result<Option<String>, FactError> {
    let _confined = ConfinedReads::unless_already(root);
    let path = key.proc_path(root);
    let Some(raw) = read_optional(&path)? else {
        return Ok(None);
    };
    check_runtime_value(key, &raw)
        .map(Some)
        .map_err(|message| FactError::Garbled { path, message })
}

/// The value of a runtime sysctl, whitespace folded, or why it cannot be
/// one. The kernel prints every gathered key as integers (the reserved-port
/// list as ports and ranges, possibly empty), so anything else — `abc`, an
/// empty file, a NUL — means the file is not what the kernel wrote, and a
/// verdict built on it would be wrong: an error naming the file, never a
/// silent "compliant".
pub fn check_runtime_value(key: &SysctlKey, raw: &str) -> Result<String, String> {
    if raw
        .chars()
        .any(|c| c == '\0' || (c.is_control() && !c.is_whitespace()))
    {
        return Err(format!(
            "the value of {key} contains a NUL or control character"
        ));
    }
    let value = normalize_value(raw);
    let gathered = GATHERED_IPV4_KEYS
        .iter()
        .chain(GATHERED_VENDOR_IPV4_KEYS)
        .any(|k| *key == SysctlKey::ipv4(k));
    if !gathered {
        return Ok(value);
    }
    if *key == SysctlKey::ipv4("ip_local_reserved_ports") {
        let ok = value
            .chars()
            .all(|c| c.is_ascii_digit() || c == ',' || c == '-');
        return match ok {
            true => Ok(value),
            false => Err(format!(
                "the value of {key} is {value:?}, not a list of ports and ranges"
            )),
        };
    }
    if value.is_empty() {
        return Err(format!(
            "the value of {key} is empty; the kernel prints a number"
        ));
    }
    if value.split(' ').any(|word| word.parse::<i64>().is_err()) {
        return Err(format!(
            "the value of {key} is {value:?}, not the integer(s) the kernel prints"
        ));
    }
    Ok(value)
}

fn gather_counters(root: &Path) -> Result<Counters, FactError> {
    let mut result = Counters::default();
    let parse_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| FactError::Counters { path, source }
    };
    let netstat = root.join("proc/net/netstat");
    if let Some(text) = read_optional(&netstat)? {
        let mut groups = counters::parse_paired_counters(&text).map_err(parse_err(&netstat))?;
        result.tcp_ext = groups.remove("TcpExt").unwrap_or_default();
    }
    let snmp = root.join("proc/net/snmp");
    if let Some(text) = read_optional(&snmp)? {
        let mut groups = counters::parse_paired_counters(&text).map_err(parse_err(&snmp))?;
        result.tcp = groups.remove("Tcp").unwrap_or_default();
    }
    for name in ["proc/net/sockstat", "proc/net/sockstat6"] {
        let path = root.join(name);
        if let Some(text) = read_optional(&path)? {
            let groups = counters::parse_sockstat(&text).map_err(parse_err(&path))?;
            for (protocol, fields) in groups {
                if protocol.starts_with("TCP") {
                    result.sockstat.insert(protocol, fields);
                }
            }
        }
    }
    Ok(result)
}
