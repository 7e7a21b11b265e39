//! NAT signals, each with its evidence, combined into one verdict.
//!
//! tcp_tw_recycle dropped SYNs from hosts behind a shared NAT address, so the
//! rules need to know whether NAT is in the path. No single file proves it;
//! each signal below is weighed:
//!
//! | signal | weight | side |
//! |---|---|---|
//! | `nat_rules`: a masquerade or SNAT rule (nft, iptables) | likely | translates |
//! | `conntrack_snat`: tracked connections whose source was rewritten | likely | translates |
//! | `conntrack_dnat`: tracked connections whose destination was rewritten | possible | translates |
//! | `ip_forward`: net.ipv4.ip_forward = 1 | possible | translates |
//! | `container_interfaces`: docker0, cni*, cilium_*, flannel*, …, or many veth | possible | translates |
//! | `private_addresses`: a host address in CGNAT space (RFC 6598) | possible | translated |
//! | `private_addresses`: only RFC 1918 or ULA addresses | weak | translated |
//! | `paws_rejects`: PAWSActive or PAWSEstab *growing* during `--sample` | possible | peers |
//!
//! Two questions hide in "is there NAT": does **this host translate** other
//! hosts' traffic (a router, a container host, a Kubernetes node), and is
//! **this host's own traffic translated** on its way out (it sits behind a NAT
//! gateway). `translates` and `translated` answer them separately; `verdict`
//! stays the strongest weight of all signals, `weak` ones excepted (an RFC 1918
//! address alone says little: most such hosts talk to private peers directly).
//! PAWS counters since boot are not evidence: only their growth during
//! `--sample` is a signal.
//!
//! With no signal, the verdict is "none" only when ip_forward was read and at
//! least one of the rule set or the conntrack table could be inspected;
//! otherwise too little was seen and it is "unknown" (a fixture tree without
//! conntrack data, an unprivileged run).

pub mod conntrack;
pub mod ctnetlink;
pub mod ctstats;
pub mod host;
pub mod ruleset;
pub mod snat;
pub mod table;

use std::io::BufReader;
use std::net::IpAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use schemars::JsonSchema;
use serde::Serialize;

use super::counters::Counters;
use super::options::GatherOptions;
use super::rates::Rates;
use super::read::{FactError, open_streaming, read_dir_confined, read_optional};
use super::tools;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NatVerdict {
    Unknown,
    None,
    /// Only as a signal's weight: worth showing, too weak to move a verdict.
    Weak,
    Possible,
    Likely,
}

/// Which question a signal answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NatSide {
    /// This host translates other hosts' traffic (router, container host).
    Translates,
    /// This host's own traffic is translated by a NAT in front of it.
    Translated,
    /// The remote peers seem to share addresses (PAWS rejects): a NAT in
    /// front of them, invisible from here.
    Peers,
}

impl NatVerdict {
    /// The word the JSON output uses.
    pub fn as_str(self) -> &'static str {
        match self {
            NatVerdict::Unknown => "unknown",
            NatVerdict::None => "none",
            NatVerdict::Weak => "weak",
            NatVerdict::Possible => "possible",
            NatVerdict::Likely => "likely",
        }
    }
}

impl std::fmt::Display for NatVerdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a NAT signal is, by the source that gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignalName {
    ConntrackSnat,
    ConntrackDnat,
    NatRules,
    ContainerInterfaces,
    PrivateAddresses,
    PawsRejects,
    IpForward,
}

impl SignalName {
    /// The name the JSON output uses.
    pub fn as_str(self) -> &'static str {
        match self {
            SignalName::ConntrackSnat => "conntrack_snat",
            SignalName::ConntrackDnat => "conntrack_dnat",
            SignalName::NatRules => "nat_rules",
            SignalName::ContainerInterfaces => "container_interfaces",
            SignalName::PrivateAddresses => "private_addresses",
            SignalName::PawsRejects => "paws_rejects",
            SignalName::IpForward => "ip_forward",
        }
    }
}

impl std::fmt::Display for SignalName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A source of NAT evidence that was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
pub enum NatCheck {
    #[serde(rename = "conntrack")]
    Conntrack,
    #[serde(rename = "nft")]
    Nft,
    #[serde(rename = "iptables-save")]
    IptablesSave,
    #[serde(rename = "ip6tables-save")]
    Ip6tablesSave,
    #[serde(rename = "interfaces")]
    Interfaces,
    #[serde(rename = "addresses")]
    Addresses,
    #[serde(rename = "paws")]
    Paws,
    #[serde(rename = "ip_forward")]
    IpForward,
}

impl NatCheck {
    /// The name the JSON output uses; for a rule-set dump, the tool's name.
    pub fn as_str(self) -> &'static str {
        match self {
            NatCheck::Conntrack => "conntrack",
            NatCheck::Nft => "nft",
            NatCheck::IptablesSave => "iptables-save",
            NatCheck::Ip6tablesSave => "ip6tables-save",
            NatCheck::Interfaces => "interfaces",
            NatCheck::Addresses => "addresses",
            NatCheck::Paws => "paws",
            NatCheck::IpForward => "ip_forward",
        }
    }

    /// A NAT table or rule set was inspected (not only hints around it).
    fn inspects_translation(self) -> bool {
        matches!(
            self,
            NatCheck::Conntrack | NatCheck::Nft | NatCheck::IptablesSave | NatCheck::Ip6tablesSave
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct NatSignal {
    pub name: SignalName,
    /// "likely", "possible" or "weak": what this signal alone says.
    pub weight: NatVerdict,
    pub side: NatSide,
    pub evidence: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct NatFacts {
    /// The strongest weight of all signals (weak ones excepted).
    pub verdict: NatVerdict,
    /// Does this host translate others' traffic (masquerade/SNAT rules,
    /// conntrack NAT entries, forwarding, container bridges)?
    pub translates: NatVerdict,
    /// Is this host's own traffic translated (private or CGNAT addresses)?
    pub translated: NatVerdict,
    pub signals: Vec<NatSignal>,
    /// Sources that were read, e.g. "ip_forward", "nft", "conntrack".
    pub checked: Vec<NatCheck>,
    /// Sources that could not be read, with the reason.
    pub unchecked: Vec<String>,
    /// Conntrack entries seen and how many had NAT applied (null if unread).
    pub conntrack: Option<conntrack::ConntrackSummary>,
    /// /proc/net/stat/nf_conntrack, summed over CPUs (null if unreadable or
    /// conntrack is not loaded). The table's size and fill are the sysctls
    /// net.netfilter.nf_conntrack_{count,max}.
    pub conntrack_stats: Option<table::ConntrackStats>,
    /// Where the conntrack entries were read: "netlink" (ctnetlink),
    /// "proc" (/proc/net/nf_conntrack) or "conntrack-tool" (`conntrack -L`);
    /// null when unread.
    pub conntrack_source: Option<String>,
    /// The source ports SNAT chooses from, as the rules or the kernel set
    /// them (null when the conntrack table was not read).
    pub snat_port_range: Option<snat::SnatPortRange>,
    /// Destinations of source-translated connections, most connections per
    /// translated address first (top 10).
    pub snat_destinations: Vec<snat::SnatDestination>,
    /// Distinct (protocol, translated address, destination) seen.
    pub snat_destination_count: u64,
}

impl Default for NatFacts {
    fn default() -> Self {
        NatFacts {
            verdict: NatVerdict::Unknown,
            translates: NatVerdict::Unknown,
            translated: NatVerdict::Unknown,
            signals: Vec::new(),
            checked: Vec::new(),
            unchecked: Vec::new(),
            conntrack: None,
            conntrack_stats: None,
            conntrack_source: None,
            snat_port_range: None,
            snat_destinations: Vec::new(),
            snat_destination_count: 0,
        }
    }
}

impl NatFacts {
    fn signal(&mut self, name: SignalName, weight: NatVerdict, side: NatSide, evidence: String) {
        self.signals.push(NatSignal {
            name,
            weight,
            side,
            evidence,
        });
    }

    /// The strongest non-weak weight among the signals of `side` (all sides
    /// when `None`), or `if_none` when there is none.
    fn strongest(&self, side: Option<NatSide>, if_none: NatVerdict) -> NatVerdict {
        self.signals
            .iter()
            .filter(|s| side.is_none_or(|side| s.side == side))
            .map(|s| s.weight)
            .filter(|w| *w > NatVerdict::Weak)
            .max()
            .unwrap_or(if_none)
    }
}

/// Starts a tool (by absolute path, never through PATH) with its output
/// captured; `None` when it is not installed.
fn spawn_tool(program: &str, args: &[&str]) -> Option<Result<Child, String>> {
    tools::spawn(program, args).map(|r| r.map_err(|e| e.to_string()))
}

/// Waits for a tool started by [`spawn_tool`] and returns its stdout, read
/// as a file is: bounded in size, and in time.
fn collect(program: &str, child: Child) -> Result<String, String> {
    tools::collect(program, child, tools::MAX_OUTPUT_BYTES, tools::TIMEOUT)
        .map_err(|e| e.to_string())
}

/// `conntrack -L`, summarised as it streams: the table can hold hundreds of
/// thousands of entries, more than is worth holding in memory as text.
fn stream_conntrack_tool(
    snat: &mut snat::SnatCounter,
) -> Option<Result<conntrack::ConntrackSummary, String>> {
    let path = tools::find("conntrack")?;
    let mut child = match Command::new(&path)
        .arg("-L")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => return Some(Err(format!("{}: {e}", path.display()))),
    };
    // Streamed, so its size costs no memory; its time is bounded all the same.
    let guard = tools::watchdog(&child, tools::TIMEOUT);
    let stdout = child.stdout.take()?;
    let summary = conntrack::summarise(BufReader::new(stdout), snat);
    let finished = guard.finish(&mut child);
    Some(match (summary, finished) {
        (_, Err(e)) => Err(e.to_string()),
        (_, Ok((_, true))) => Err(format!(
            "conntrack -L ran longer than {} s; stopped and not read",
            tools::TIMEOUT.as_secs()
        )),
        (_, Ok((status, _))) if !status.success() => {
            Err(format!("conntrack -L exited with {status}"))
        }
        (Err(e), _) => Err(format!("conntrack -L output: {e}")),
        (Ok(summary), _) => Ok(summary),
    })
}

fn garbled(path: &Path, message: impl std::fmt::Display) -> FactError {
    FactError::Garbled {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// The whole table over ctnetlink, folded as it streams. Only asked when
/// conntrack is loaded (its sysctls exist): the request would otherwise make
/// the kernel load nf_conntrack_netlink and nf_conntrack for a read.
fn conntrack_netlink(
    root: &Path,
    snat: &mut snat::SnatCounter,
) -> Option<Result<conntrack::ConntrackSummary, ctnetlink::CtError>> {
    let count = super::read::read_optional(&root.join("proc/sys/net/netfilter/nf_conntrack_count"))
        .ok()??;
    // A dump walks every bucket of the conntrack hash, which all namespaces
    // share since Linux 4.7 (56d52d4892d0; ctnetlink_dump_table filters by
    // namespace as it goes), whatever this namespace holds: ~6 ms at this
    // host's table size, two thirds of `--all-netns` at a hundred namespaces.
    // A namespace whose count is 0 has nothing to dump.
    if count.trim() == "0" {
        return Some(Ok(conntrack::SummaryBuilder::default().finish()));
    }
    let mut builder = conntrack::SummaryBuilder::default();
    let mut counted = snat::SnatCounter::default();
    let result = ctnetlink::dump(|entry| {
        builder.add_entry(&entry);
        counted.observe(&entry);
    });
    Some(result.map(|()| {
        *snat = counted;
        builder.finish()
    }))
}

fn conntrack_summary(
    facts: &mut NatFacts,
    root: &Path,
    live: bool,
    snat: &mut snat::SnatCounter,
) -> Result<(), FactError> {
    if live && let Some(Ok(summary)) = conntrack_netlink(root, snat) {
        facts.conntrack_source = Some("netlink".into());
        record_conntrack(facts, summary);
        return Ok(());
    }
    // Refused (no CAP_NET_ADMIN) or conntrack not loaded: the text listing.
    let path = root.join("proc/net/nf_conntrack");
    let summary = match open_streaming(&path) {
        Ok(file) => {
            facts.conntrack_source = Some("proc".into());
            conntrack::summarise(BufReader::new(file), snat).map_err(|e| garbled(&path, e))?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && live => {
            // Kernels built without NF_CONNTRACK_PROCFS: the conntrack tool.
            facts.conntrack_source = Some("conntrack-tool".into());
            match stream_conntrack_tool(snat) {
                None => {
                    facts.conntrack_source = None;
                    facts
                        .unchecked
                        .push("conntrack: no /proc/net/nf_conntrack and no conntrack tool".into());
                    return Ok(());
                }
                Some(Err(e)) => {
                    facts.conntrack_source = None;
                    facts.unchecked.push(format!("conntrack: {e}"));
                    return Ok(());
                }
                Some(Ok(summary)) => summary,
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            facts
                .unchecked
                .push(format!("conntrack: no {}", path.display()));
            return Ok(());
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            facts
                .unchecked
                .push(format!("conntrack: {}: {e}", path.display()));
            return Ok(());
        }
        Err(source) => return Err(FactError::Read { path, source }),
    };
    record_conntrack(facts, summary);
    Ok(())
}

fn record_conntrack(facts: &mut NatFacts, summary: conntrack::ConntrackSummary) {
    facts.checked.push(NatCheck::Conntrack);
    if summary.snat > 0 {
        facts.signal(
            SignalName::ConntrackSnat,
            NatVerdict::Likely,
            NatSide::Translates,
            format!(
                "{} of {} tracked connections have their source rewritten (SNAT/masquerade), e.g. {}",
                summary.snat,
                summary.entries,
                summary.example.as_deref().unwrap_or("?")
            ),
        );
    }
    if summary.dnat > 0 {
        facts.signal(
            SignalName::ConntrackDnat,
            NatVerdict::Possible,
            NatSide::Translates,
            format!(
                "{} of {} tracked connections have their destination rewritten (DNAT)",
                summary.dnat, summary.entries
            ),
        );
    }
    facts.conntrack = Some(summary);
}

fn conntrack_stats(facts: &mut NatFacts, root: &Path, live: bool) -> Result<(), FactError> {
    let path = root.join("proc/net/stat/nf_conntrack");
    // Test hook: read the statistics as a kernel without the file would.
    #[cfg(feature = "test-hooks")]
    let hidden = std::env::var_os("TWTUNE_TEST_NO_PROC_CT_STATS").is_some();
    #[cfg(not(feature = "test-hooks"))]
    let hidden = false;
    // Bounded and inside a --root tree, like every read.
    let read = match super::read::read_bounded(&path) {
        _ if hidden => Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
        Ok(Some(bytes)) => Ok(bytes),
        Ok(None) => Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
        Err(super::read::BoundedReadError::Io(e)) => Err(e),
        Err(refused) => Err(std::io::Error::other(refused.to_string())),
    };
    match read {
        Ok(bytes) => {
            let text =
                String::from_utf8(bytes).map_err(|_| FactError::NotText { path: path.clone() })?;
            facts.conntrack_stats = Some(table::parse_stats(&text).map_err(|e| garbled(&path, e))?);
        }
        // No CONFIG_NF_CONNTRACK_PROCFS while conntrack is loaded: ctnetlink
        // has the same counters (node_exporter#3184).
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                && live
                && root
                    .join("proc/sys/net/netfilter/nf_conntrack_count")
                    .exists() =>
        {
            match ctstats::dump() {
                Ok(stats) => facts.conntrack_stats = Some(stats),
                Err(e) => facts.unchecked.push(format!(
                    "conntrack statistics: no {} and {e}",
                    path.display()
                )),
            }
        }
        // Not loaded, or hidden from an unprivileged reader: unknown, not zero.
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                || e.kind() == std::io::ErrorKind::PermissionDenied =>
        {
            facts
                .unchecked
                .push(format!("conntrack statistics: {}: {e}", path.display()));
        }
        Err(source) => return Err(FactError::Read { path, source }),
    }
    Ok(())
}

/// A NAT rule's port range, `None` for a rule without one.
type PortRange = Option<(u16, u16)>;

/// Reads the source-NAT rules; returns the port range of each (`None` for a
/// rule without one), or `None` when no rule set could be read, and whether
/// a rule set that exists could not be read (a tool that failed, was
/// stopped or printed garbage: the rules it holds are unknown, not absent).
fn nat_rules(facts: &mut NatFacts) -> (Option<Vec<PortRange>>, bool) {
    let mut unreadable = false;
    let mut port_ranges = Vec::new();
    // Each tool takes a few milliseconds, mostly process start-up: run them
    // side by side, they only read.
    let nft = spawn_tool("nft", &["-j", "list", "ruleset"]);
    let legacy: Vec<_> = [NatCheck::IptablesSave, NatCheck::Ip6tablesSave]
        .into_iter()
        .map(|check| (check, spawn_tool(check.as_str(), &[])))
        .collect();
    let mut rules = Vec::new();
    let mut any_read = false;
    match nft.map(|started| started.and_then(|child| collect("nft", child))) {
        None => facts.unchecked.push("nft: not installed".into()),
        Some(Err(e)) => {
            unreadable = true;
            facts.unchecked.push(format!("nft: {e}"));
        }
        Some(Ok(text)) => match ruleset::parse_nft_json(&text) {
            Ok(found) => {
                any_read = true;
                facts.checked.push(NatCheck::Nft);
                rules.extend(found);
                port_ranges.extend(snat::nft_port_ranges(&text));
            }
            Err(e) => {
                unreadable = true;
                facts.unchecked.push(format!("nft: {e}"));
            }
        },
    }
    // Legacy iptables keeps its own tables that nft does not list.
    for (check, started) in legacy {
        let tool = check.as_str();
        match started.map(|started| started.and_then(|child| collect(tool, child))) {
            None => {}
            Some(Err(e)) => {
                unreadable = true;
                facts.unchecked.push(format!("{tool}: {e}"));
            }
            Some(Ok(text)) => {
                any_read = true;
                facts.checked.push(check);
                // iptables-nft rules live in nf_tables, where nft already saw them.
                let seen_by_nft =
                    text.contains("(nf_tables)") && facts.checked.contains(&NatCheck::Nft);
                if !seen_by_nft {
                    rules.extend(ruleset::parse_iptables_save(&text));
                    port_ranges.extend(snat::iptables_port_ranges(&text));
                }
            }
        }
    }
    if any_read && !rules.is_empty() {
        rules.dedup();
        let shown: Vec<&str> = rules.iter().take(5).map(String::as_str).collect();
        facts.signal(
            SignalName::NatRules,
            NatVerdict::Likely,
            NatSide::Translates,
            format!("{} source-NAT rule(s): {}", rules.len(), shown.join("; ")),
        );
    }
    (any_read.then_some(port_ranges), unreadable)
}

fn interfaces(facts: &mut NatFacts, root: &Path) -> Result<(), FactError> {
    // /proc/net/dev follows the reader's network namespace; /sys/class/net
    // shows the namespace sysfs was mounted in, so it is only the fallback.
    let dev = root.join("proc/net/dev");
    // Interface names are bytes, and a user may name the interfaces of a
    // network namespace they own as they like: read as bytes, shown escaped.
    let names = match super::read::read_optional_names(&dev)? {
        Some(text) => host::parse_proc_net_dev(&text),
        None => match read_dir_confined(&root.join("sys/class/net")) {
            Ok(entries) => entries
                .into_iter()
                .map(|name| {
                    use std::os::unix::ffi::OsStrExt;
                    super::read::bytes_to_text(name.as_bytes())
                })
                .collect(),
            Err(_) => {
                facts
                    .unchecked
                    .push("interfaces: no proc/net/dev or sys/class/net".into());
                return Ok(());
            }
        },
    };
    facts.checked.push(NatCheck::Interfaces);
    let bridges: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| host::is_container_interface(n))
        .collect();
    let veths = names.iter().filter(|n| n.starts_with("veth")).count();
    if !bridges.is_empty() || veths >= host::MANY_VETH {
        let mut evidence = Vec::new();
        if !bridges.is_empty() {
            evidence.push(format!(
                "container/bridge interfaces: {}",
                bridges.join(", ")
            ));
        }
        if veths >= host::MANY_VETH {
            evidence.push(format!("{veths} veth interfaces"));
        }
        facts.signal(
            SignalName::ContainerInterfaces,
            NatVerdict::Possible,
            NatSide::Translates,
            evidence.join("; "),
        );
    }
    Ok(())
}

fn addresses(facts: &mut NatFacts, root: &Path) -> Result<(), FactError> {
    let mut shared = Vec::new();
    let mut private = Vec::new();
    let trie = root.join("proc/net/fib_trie");
    let inet6 = root.join("proc/net/if_inet6");
    let mut read_any = false;
    let mut sort = |addr: IpAddr| match host::nat_range(addr) {
        Some(kind @ host::CGNAT) => shared.push(format!("{addr} {kind}")),
        Some(kind) => private.push(format!("{addr} {kind}")),
        None => {}
    };
    if let Some(text) = read_optional(&trie)? {
        read_any = true;
        for addr in host::parse_fib_trie(&text).map_err(|e| garbled(&trie, e))? {
            sort(addr.into());
        }
    }
    if let Some(text) = super::read::read_optional_names(&inet6)? {
        read_any = true;
        for addr in host::parse_if_inet6(&text).map_err(|e| garbled(&inet6, e))? {
            sort(addr.into());
        }
    }
    if !read_any {
        facts
            .unchecked
            .push("addresses: no proc/net/fib_trie or if_inet6".into());
        return Ok(());
    }
    facts.checked.push(NatCheck::Addresses);
    if !shared.is_empty() {
        // RFC 6598 space exists only behind a carrier-grade NAT.
        facts.signal(
            SignalName::PrivateAddresses,
            NatVerdict::Possible,
            NatSide::Translated,
            format!(
                "this host has {}: shared address space, reachable from the internet only through a carrier-grade NAT, so its own outbound traffic is possibly translated",
                shared.join(", ")
            ),
        );
    } else if !private.is_empty() {
        facts.signal(
            SignalName::PrivateAddresses,
            NatVerdict::Weak,
            NatSide::Translated,
            format!(
                "this host has {}: weak evidence on its own (private peers are reached without NAT); its traffic to the internet, if any, passes a NAT gateway",
                private.join(", ")
            ),
        );
    }
    Ok(())
}

/// PAWS rejects as a NAT signal: only their growth while sampling counts.
/// A since-boot total says nothing about now (one misbehaving peer a month
/// ago, a clock jump), so without `--sample` it is noted and not weighed.
fn paws(facts: &mut NatFacts, counters: &Counters, rates: Option<&Rates>) {
    match rates {
        Some(rates) => {
            let growing: Vec<String> = [
                ("PAWSActive", rates.paws_active),
                ("PAWSEstab", rates.paws_estab),
            ]
            .iter()
            .filter_map(|(name, rate)| {
                rate.filter(|r| *r > 0.0)
                    .map(|r| format!("{name} +{r:.1}/s"))
            })
            .collect();
            facts.checked.push(NatCheck::Paws);
            if !growing.is_empty() {
                facts.signal(
                    SignalName::PawsRejects,
                    NatVerdict::Possible,
                    NatSide::Peers,
                    format!(
                        "TcpExt {} over {:.1} s: segments rejected for old timestamps now, as when peers behind one address have unrelated clocks",
                        growing.join(", "),
                        rates.interval_seconds
                    ),
                );
            }
        }
        None => {
            let since_boot: Vec<String> = ["PAWSActive", "PAWSEstab"]
                .iter()
                .filter_map(|k| {
                    counters
                        .tcp_ext
                        .get(*k)
                        .filter(|v| **v > 0)
                        .map(|v| format!("{k}={v}"))
                })
                .collect();
            if !since_boot.is_empty() {
                facts.unchecked.push(format!(
                    "paws: TcpExt {} since boot is not evidence of NAT now; `check --sample` measures whether it grows",
                    since_boot.join(", ")
                ));
            }
        }
    }
}

/// `ip_forward` is the runtime value `facts::gather` read (`None` when the
/// kernel lacks it): one reading of each sysctl.
pub fn gather(
    options: &GatherOptions,
    ip_forward: Option<&str>,
    counters: &Counters,
    rates: Option<&Rates>,
) -> Result<NatFacts, FactError> {
    let root = options.root.as_path();
    let mut facts = NatFacts::default();

    let forward_read = match ip_forward {
        Some(value) => {
            facts.checked.push(NatCheck::IpForward);
            if value.trim() == "1" {
                facts.signal(
                    SignalName::IpForward,
                    NatVerdict::Possible,
                    NatSide::Translates,
                    "net.ipv4.ip_forward = 1: this host routes packets for others".into(),
                );
            }
            true
        }
        None => {
            facts.unchecked.push("ip_forward: absent".into());
            false
        }
    };

    let mut snat_counter = snat::SnatCounter::default();
    conntrack_summary(&mut facts, root, options.is_live(), &mut snat_counter)?;
    conntrack_stats(&mut facts, root, options.is_live())?;
    let mut rules_unreadable = false;
    let port_ranges = if options.is_live() && options.nat_tools {
        let (ranges, unreadable) = nat_rules(&mut facts);
        rules_unreadable = unreadable;
        ranges
    } else if options.is_live() {
        facts.unchecked.push(
            "nat rules: not read in this namespace (--all-netns starts nft and iptables-save in its own namespace only; `check --netns` reads them)".into(),
        );
        None
    } else {
        facts
            .unchecked
            .push("nat rules: only read on the live host".into());
        None
    };
    if facts.conntrack.is_some() {
        let range = match &port_ranges {
            Some(ranges) => snat::SnatPortRange::from_rules(ranges),
            None => snat::SnatPortRange {
                from: "kernel default (rule set not read)".into(),
                ..Default::default()
            },
        };
        let (top, distinct) = snat_counter.finish(&range);
        facts.snat_destinations = top;
        facts.snat_destination_count = distinct;
        facts.snat_port_range = Some(range);
    }
    interfaces(&mut facts, root)?;
    addresses(&mut facts, root)?;
    paws(&mut facts, counters, rates);

    let inspected = facts.checked.iter().any(|c| c.inspects_translation());
    // A rule set that could not be read (no CAP_NET_ADMIN for nft, a tool
    // stopped at its bound) may hold a masquerade: without a signal the
    // verdict is unknown, not none.
    let quiet = if forward_read && inspected && !rules_unreadable {
        NatVerdict::None
    } else {
        NatVerdict::Unknown
    };
    facts.verdict = facts.strongest(None, quiet);
    facts.translates = facts.strongest(Some(NatSide::Translates), quiet);
    // Whether a NAT stands in front of this host cannot be seen from inside
    // it: the addresses can make it possible, never rule it out.
    let addresses_read = facts.checked.contains(&NatCheck::Addresses);
    facts.translated = facts.strongest(
        Some(NatSide::Translated),
        if addresses_read {
            NatVerdict::None
        } else {
            NatVerdict::Unknown
        },
    );
    Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `gather` on a fixture tree, with the tree's ip_forward as
    /// `facts::gather` would have read it.
    fn gather_tree(
        root: &Path,
        counters: &Counters,
        rates: Option<&Rates>,
    ) -> Result<NatFacts, FactError> {
        let forward = std::fs::read_to_string(root.join("proc/sys/net/ipv4/ip_forward")).ok();
        gather(
            &GatherOptions::new(root),
            forward.as_deref().map(str::trim),
            counters,
            rates,
        )
    }

    #[test]
    fn names_read_the_same_in_json_and_in_text() {
        use NatVerdict as V;
        for verdict in [V::Unknown, V::None, V::Weak, V::Possible, V::Likely] {
            assert_eq!(serde_json::to_value(verdict).unwrap(), verdict.to_string());
        }
        use SignalName as S;
        for name in [
            S::ConntrackSnat,
            S::ConntrackDnat,
            S::NatRules,
            S::ContainerInterfaces,
            S::PrivateAddresses,
            S::PawsRejects,
            S::IpForward,
        ] {
            assert_eq!(serde_json::to_value(name).unwrap(), name.to_string());
        }
        use NatCheck as C;
        for check in [
            C::Conntrack,
            C::Nft,
            C::IptablesSave,
            C::Ip6tablesSave,
            C::Interfaces,
            C::Addresses,
            C::Paws,
            C::IpForward,
        ] {
            assert_eq!(serde_json::to_value(check).unwrap(), check.as_str());
        }
    }

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let p = root.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        root
    }

    const NO_DEV: &str = "Inter-|\n face |\n    lo: 0 0\n";

    #[test]
    fn masquerading_conntrack_is_likely() {
        let root = tree(&[
            ("proc/sys/net/ipv4/ip_forward", "1\n"),
            ("proc/net/dev", NO_DEV),
            (
                "proc/net/nf_conntrack",
                "ipv4 2 tcp 6 117 TIME_WAIT src=192.0.2.2 dst=198.51.100.2 sport=41000 dport=8080 src=198.51.100.2 dst=198.51.100.1 sport=8080 dport=41000 [ASSURED] use=2\n",
            ),
        ]);
        let nat = gather_tree(root.path(), &Counters::default(), None).unwrap();
        assert_eq!(nat.verdict, NatVerdict::Likely);
        let names: Vec<&str> = nat.signals.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["ip_forward", "conntrack_snat"]);
        assert!(nat.signals[1].evidence.contains("198.51.100.1:41000"));
        assert_eq!(nat.translates, NatVerdict::Likely);
        assert_eq!(serde_json::to_value(&nat).unwrap()["verdict"], "likely");
    }

    #[test]
    fn quiet_host_is_none_only_when_enough_was_seen() {
        let files = [
            ("proc/sys/net/ipv4/ip_forward", "0\n"),
            ("proc/net/dev", NO_DEV),
            (
                "proc/net/fib_trie",
                "Local:\n     |-- 198.51.100.7\n        /32 host LOCAL\n",
            ),
        ];
        let root = tree(&files);
        let nat = gather_tree(root.path(), &Counters::default(), None).unwrap();
        assert_eq!(
            nat.verdict,
            NatVerdict::Unknown,
            "no conntrack, no rules: {nat:?}"
        );

        let mut with_ct = files.to_vec();
        with_ct.push(("proc/net/nf_conntrack", ""));
        let root = tree(&with_ct);
        let nat = gather_tree(root.path(), &Counters::default(), None).unwrap();
        assert_eq!(nat.verdict, NatVerdict::None, "{nat:?}");
    }

    #[test]
    fn weak_signals_make_possible() {
        let root = tree(&[
            ("proc/sys/net/ipv4/ip_forward", "0\n"),
            ("proc/net/nf_conntrack", ""),
            ("proc/net/dev", "h\nh\n docker0: 0\n veth1: 0\n"),
            (
                "proc/net/fib_trie",
                "Local:\n     |-- 10.1.2.3\n        /32 host LOCAL\n",
            ),
        ]);
        let mut counters = Counters::default();
        counters.tcp_ext.insert("PAWSEstab".into(), 3);
        let nat = gather_tree(root.path(), &counters, None).unwrap();
        assert_eq!(nat.verdict, NatVerdict::Possible);
        assert_eq!(nat.translates, NatVerdict::Possible);
        // An RFC 1918 address alone is weak: shown, but it moves no verdict.
        assert_eq!(nat.translated, NatVerdict::None);
        let names: Vec<&str> = nat.signals.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["container_interfaces", "private_addresses"]);
        assert_eq!(nat.signals[1].weight, NatVerdict::Weak);
        assert!(!nat.signals[1].evidence.contains("likely"));
        // PAWSEstab since boot is noise without --sample: noted, not weighed.
        assert!(
            nat.unchecked
                .iter()
                .any(|u| u.contains("PAWSEstab=3 since boot")),
            "{:?}",
            nat.unchecked
        );
    }

    #[test]
    fn paws_growth_while_sampling_is_a_signal_about_the_peers() {
        let root = tree(&[
            ("proc/sys/net/ipv4/ip_forward", "0\n"),
            ("proc/net/nf_conntrack", ""),
            ("proc/net/dev", NO_DEV),
        ]);
        let rates = Rates {
            interval_seconds: 5.0,
            paws_estab: Some(0.4),
            paws_active: Some(0.0),
            ..Rates::default()
        };
        let nat = gather_tree(root.path(), &Counters::default(), Some(&rates)).unwrap();
        assert_eq!(nat.signals[0].name, SignalName::PawsRejects);
        assert_eq!(nat.signals[0].side, NatSide::Peers);
        assert!(nat.signals[0].evidence.contains("PAWSEstab +0.4/s"));
        assert_eq!(nat.verdict, NatVerdict::Possible);
        // Neither question is answered by the peers' clocks.
        assert_eq!(nat.translates, NatVerdict::None);
        // A sample where the counters stand still is no signal.
        let still = Rates {
            paws_estab: Some(0.0),
            ..rates
        };
        let nat = gather_tree(root.path(), &Counters::default(), Some(&still)).unwrap();
        assert_eq!(nat.verdict, NatVerdict::None, "{nat:?}");
    }

    #[test]
    fn a_cgnat_address_makes_own_translation_possible() {
        let root = tree(&[
            ("proc/sys/net/ipv4/ip_forward", "0\n"),
            ("proc/net/nf_conntrack", ""),
            ("proc/net/dev", NO_DEV),
            (
                "proc/net/fib_trie",
                "Local:\n     |-- 100.72.1.9\n        /32 host LOCAL\n",
            ),
        ]);
        let nat = gather_tree(root.path(), &Counters::default(), None).unwrap();
        assert_eq!(nat.translated, NatVerdict::Possible);
        assert_eq!(nat.translates, NatVerdict::None);
        assert!(nat.signals[0].evidence.contains("possibly translated"));
        let json = serde_json::to_value(&nat).unwrap();
        assert_eq!(json["translated"], "possible");
        assert_eq!(json["signals"][0]["side"], "translated");
    }

    #[test]
    fn garbled_conntrack_names_the_file() {
        let root = tree(&[("proc/net/nf_conntrack", "ipv4 2 tcp 6 1 src=1.1.1.1\n")]);
        let err = gather_tree(root.path(), &Counters::default(), None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("nf_conntrack") && err.contains("line 1"),
            "{err}"
        );
    }
}
