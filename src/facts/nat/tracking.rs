//! The connection tracking table: its NAT'ed entries (over ctnetlink or the
//! conntrack tool) and its statistics.

use super::child::stream_conntrack_tool;
use super::*;

/// The whole table over ctnetlink, folded as it streams. Only asked when
/// conntrack is loaded (its sysctls exist): the request would otherwise make
/// the kernel load nf_conntrack_netlink and nf_conntrack for a read.
pub(super) fn conntrack_netlink(
    root: &Path,
    snat: &mut snat::SnatCounter,
) -> Option<Result<conntrack::ConntrackSummary, ctnetlink::CtError>> {
    let count =
        crate::facts::read::read_optional(&root.join("proc/sys/net/netfilter/nf_conntrack_count"))
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

pub(super) fn conntrack_summary(
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
            conntrack::summarise(BufReader::new(file), snat)
                .map_err(|e| FactError::garbled(&path, e))?
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

pub(super) fn record_conntrack(facts: &mut NatFacts, summary: conntrack::ConntrackSummary) {
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

pub(super) fn conntrack_stats(
    facts: &mut NatFacts,
    root: &Path,
    live: bool,
) -> Result<(), FactError> {
    let path = root.join("proc/net/stat/nf_conntrack");
    // Test hook: read the statistics as a kernel without the file would.
    #[cfg(feature = "test-hooks")]
    let hidden = std::env::var_os("TWTUNE_TEST_NO_PROC_CT_STATS").is_some();
    #[cfg(not(feature = "test-hooks"))]
    let hidden = false;
    // Bounded and inside a --root tree, like every read.
    let read = match crate::facts::read::read_bounded(&path) {
        _ if hidden => Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
        Ok(Some(bytes)) => Ok(bytes),
        Ok(None) => Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
        Err(crate::facts::read::BoundedReadError::Io(e)) => Err(e),
        Err(refused) => Err(std::io::Error::other(refused.to_string())),
    };
    match read {
        Ok(bytes) => {
            let text =
                String::from_utf8(bytes).map_err(|_| FactError::NotText { path: path.clone() })?;
            facts.conntrack_stats =
                Some(table::parse_stats(&text).map_err(|e| FactError::garbled(&path, e))?);
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
            match super::ctstats::dump() {
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
