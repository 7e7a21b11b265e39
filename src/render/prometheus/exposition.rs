//! The text exposition format itself (version 0.0.4): families with HELP and
//! TYPE lines, samples with escaped label values, numbers as Go's ParseFloat
//! reads them. Families are kept as values until [`Exposition::render`], so
//! that several expositions (one per network namespace, each with its own
//! extra labels) can be merged into one document in which every family's
//! samples stay together under one HELP and TYPE, as the format requires.

use std::fmt::Write as _;

/// A family's TYPE: gauges for states and ratios, counters for the kernel's
/// counters since boot (named `…_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        }
    }
}

/// One sample: its labels (the exposition's extra labels first) and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// One metric family: name, HELP text (with the unit), TYPE and samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    pub samples: Vec<Sample>,
}

/// A document being built: families in the order they were opened.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exposition {
    families: Vec<Family>,
    /// Labels put first on every sample (e.g. `netns`, `pod`).
    extra: Vec<(String, String)>,
}

impl Exposition {
    /// An empty document whose every sample carries `extra` first.
    pub fn with_labels(extra: &[(&str, &str)]) -> Self {
        Exposition {
            families: Vec::new(),
            extra: extra
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// The families, in order.
    pub fn families(&self) -> &[Family] {
        &self.families
    }

    /// Opens a family; the samples that follow belong to it.
    pub fn family(&mut self, name: &'static str, kind: Kind, help: &'static str) {
        self.families.push(Family {
            name,
            help,
            kind,
            samples: Vec::new(),
        });
    }

    pub fn gauge(&mut self, name: &'static str, help: &'static str) {
        self.family(name, Kind::Gauge, help);
    }

    pub fn counter(&mut self, name: &'static str, help: &'static str) {
        self.family(name, Kind::Counter, help);
    }

    /// A sample of the family opened last.
    pub fn sample(&mut self, labels: &[(&str, &str)], value: f64) {
        let mut all = self.extra.clone();
        all.extend(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        if let Some(family) = self.families.last_mut() {
            family.samples.push(Sample { labels: all, value });
        }
    }

    /// Adds `other`'s samples: to the family of the same name when this
    /// document has it, else as a new family at the end. Every family stays
    /// one block with one HELP and TYPE.
    pub fn merge(&mut self, other: Exposition) {
        for family in other.families {
            match self.families.iter_mut().find(|f| f.name == family.name) {
                Some(mine) => mine.samples.extend(family.samples),
                None => self.families.push(family),
            }
        }
    }

    /// Moves the family `name` to the end, if present (the document's last
    /// family tells a reader it has the whole file).
    pub fn move_to_end(&mut self, name: &str) {
        if let Some(at) = self.families.iter().position(|f| f.name == name) {
            let family = self.families.remove(at);
            self.families.push(family);
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        for family in &self.families {
            let _ = writeln!(text, "# HELP {} {}", family.name, escape_help(family.help));
            let _ = writeln!(text, "# TYPE {} {}", family.name, family.kind.word());
            for sample in &family.samples {
                text.push_str(family.name);
                if !sample.labels.is_empty() {
                    text.push('{');
                    for (i, (label, value)) in sample.labels.iter().enumerate() {
                        if i > 0 {
                            text.push(',');
                        }
                        let _ = write!(text, "{label}=\"{}\"", escape_label_value(value));
                    }
                    text.push('}');
                }
                let _ = writeln!(text, " {}", number(sample.value));
            }
        }
        text
    }
}

/// 1 for true, 0 for false.
pub fn flag(on: bool) -> f64 {
    if on { 1.0 } else { 0.0 }
}

/// A sample value as the exposition format spells it (Go's ParseFloat).
pub fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value == f64::INFINITY {
        "+Inf".into()
    } else if value == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        // Rust never writes an exponent here, and whole numbers without ".0".
        format!("{value}")
    }
}

/// A label value from the inspected host (a kernel release, an address):
/// control characters shown escaped (as everywhere twtune prints outside
/// text), then backslash, double quote and newline escaped as the format
/// requires, so no value can end a label or a line early.
pub fn escape_label_value(raw: &str) -> String {
    let visible = crate::render::escape::text(raw);
    let mut out = String::with_capacity(visible.len());
    for c in visible.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn escape_help(raw: &str) -> String {
    raw.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_cannot_break_out_of_their_quotes() {
        assert_eq!(escape_label_value("6.1.0-amd64"), "6.1.0-amd64");
        assert_eq!(escape_label_value("a\"b"), "a\\\"b");
        assert_eq!(escape_label_value("a\\b"), "a\\\\b");
        // The newline becomes the visible `\n`, whose backslash is escaped.
        assert_eq!(escape_label_value("a\nb"), "a\\\\nb");
        assert_eq!(escape_label_value("x\x1b[2J"), "x\\\\x1b[2J");
    }

    #[test]
    fn numbers_are_spelled_as_prometheus_parses_them() {
        assert_eq!(number(1.0), "1");
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(1_700_000_000.125), "1700000000.125");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(f64::INFINITY), "+Inf");
    }

    #[test]
    fn merged_expositions_keep_each_family_in_one_block() {
        let mut a = Exposition::with_labels(&[("netns", "a")]);
        a.gauge("x", "X.");
        a.sample(&[("k", "1")], 1.0);
        a.gauge("y", "Y.");
        a.sample(&[], 2.0);
        let mut b = Exposition::with_labels(&[("netns", "b")]);
        b.gauge("x", "X.");
        b.sample(&[("k", "1")], 3.0);
        b.counter("z_total", "Z.");
        b.sample(&[], 4.0);
        a.merge(b);
        a.move_to_end("y");
        assert_eq!(
            a.render(),
            "# HELP x X.\n# TYPE x gauge\nx{netns=\"a\",k=\"1\"} 1\nx{netns=\"b\",k=\"1\"} 3\n\
             # HELP z_total Z.\n# TYPE z_total counter\nz_total{netns=\"b\"} 4\n\
             # HELP y Y.\n# TYPE y gauge\ny{netns=\"a\"} 2\n"
        );
    }
}
