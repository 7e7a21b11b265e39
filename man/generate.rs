//! The man page, rendered from the command-line definition. One generator for
//! two users: build.rs (the gzipped page the packages install) and the
//! `man_page` test (which keeps the committed man/twtune.1 equal to it). Both
//! include this file with `#[path]`, so it needs nothing but clap and
//! clap_mangen.

pub const EXTRA: &str = r#".SH "EXIT STATUS"
.TP
\fB0\fR
Compliant: no finding at warning or above (check), an empty plan (apply \-\-dry\-run), or a successful apply or rollback. A check whose every finding is below warning but which could not decide some rule (an unparsable custom kernel release, a fact the host lacks) also exits 0; its JSON status is "incomplete".
.TP
\fB1\fR
Error: bad input (a missing \-\-root, an unreadable or garbled file twtune relies on such as a /proc value reading "abc", empty or with a NUL, a FIFO or device where a file should be, a file over 32 MiB, a rule file error or a rule over its limits, a damaged or crafted journal or last\-apply record, a link leaving the \-\-root tree, a usage error), a refused or failed write. Nothing is left half\-applied. A closed output pipe is not an error: the status stays what the command decided.
.TP
\fB2\fR
Changes pending: a finding at warning or above, or a non\-empty plan.
.PP
\fBcheck \-\-format nagios\fR switches to the monitoring\-plugins statuses on purpose: 0 OK, 1 WARNING (the worst finding is a warning), 2 CRITICAL (a critical finding), 3 UNKNOWN (an error, a usage error, unreadable input, or a rule left undecided with nothing else wrong), with a TWTUNE UNKNOWN line on stdout.
.SH FILES
.TP
\fIROOT\fR/proc/sys/net/ipv4/*, \fIROOT\fR/proc/sys/kernel/osrelease, \fIROOT\fR/proc/net/{netstat,snmp,sockstat,sockstat6,tcp,tcp6}
What the kernel reports.
.TP
\fIROOT\fR/etc/sysctl.d, /run/sysctl.d, /usr/local/lib/sysctl.d, /usr/lib/sysctl.d, /lib/sysctl.d, /etc/sysctl.conf
Persisted settings, read in systemd\-sysctl's order.
.TP
\fIROOT\fR/etc/twtune/rules.d/*.toml
Site rules: add rules, replace a built\-in rule by using its id, or switch rules off with a top\-level disable = ["ID", ...].
.TP
\fIROOT\fR/var/lib/twtune/
The apply journal.
.SH ENVIRONMENT
.TP
\fBNO_COLOR\fR
When set and not empty, no colour.
.SH "SEE ALSO"
sysctl(8), sysctl.d(5), systemd\-sysctl.service(8), ss(8), tcp(7)
"#;

/// The whole page: clap's NAME, SYNOPSIS, DESCRIPTION and OPTIONS, the
/// hand-written sections above, then one section per subcommand.
pub fn render(twtune: clap::Command) -> Vec<u8> {
    let man = clap_mangen::Man::new(twtune.clone()).date("2026-11-25");
    let mut out = Vec::new();
    man.render(&mut out).expect("render to memory");
    out.extend_from_slice(EXTRA.as_bytes());
    for sub in twtune.get_subcommands() {
        let name = sub.get_name().to_string();
        if name == "help" {
            continue;
        }
        let sub_man = clap_mangen::Man::new(
            sub.clone()
                .name(Box::leak(format!("twtune {name}").into_boxed_str()) as &str),
        );
        out.extend_from_slice(format!(".SH \"twtune {}\"\n", name.to_uppercase()).as_bytes());
        sub_man
            .render_synopsis_section(&mut out)
            .expect("render to memory");
        sub_man
            .render_description_section(&mut out)
            .expect("render to memory");
        sub_man
            .render_options_section(&mut out)
            .expect("render to memory");
    }
    out
}
