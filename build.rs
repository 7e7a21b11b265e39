//! Embeds every `rules/*.toml` in the binary, so adding a rule is adding a file:
//! no list to keep in step with the folder. Also renders, from the same clap
//! definitions the binary parses with, the gzipped man page and the shell
//! completions the .deb and .rpm carry (see `write_assets`).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

// The command line, compiled a second time here: the assets cannot drift from
// the binary's own parser.
#[allow(dead_code)]
#[path = "src/cli.rs"]
mod cli;
// cli.rs parses --k8s-version with it; the constants only the library uses.
#[allow(dead_code)]
#[path = "src/k8s_version.rs"]
mod k8s_version;
#[path = "man/generate.rs"]
mod man;
// The rule files' TOML shape, the library's own: the built-in rules are
// parsed here, once, instead of by every run (issue 20: TOML parsing was a
// fifth of an idle check's instructions).
#[allow(dead_code)]
#[path = "src/rules/raw.rs"]
mod raw;
/// The library's `Severity` as raw.rs parses it. A variant the library
/// lacks fails the generated code's build; one this lacks fails the parse.
mod finding {
    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum Severity {
        Info,
        Warning,
        Critical,
    }
}

fn main() {
    embed_rules();
    write_assets();
}

fn embed_rules() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("rules/ folder")
        .map(|e| e.expect("rules/ entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    let mut code = String::from(
        "/// (file name, contents) of every built-in rule file.\npub const EMBEDDED_RULES: &[(&str, &str)] = &[\n",
    );
    let mut parsed = String::from(
        "/// The built-in rule file of that index in [`EMBEDDED_RULES`], as its\n/// TOML parsed when twtune was built.\nfn embedded_raw(index: usize) -> RawFile {\n    match index {\n",
    );
    for (index, path) in files.iter().enumerate() {
        println!("cargo:rerun-if-changed={}", path.display());
        let name = path.file_name().unwrap().to_string_lossy();
        writeln!(
            code,
            "    ({name:?}, include_str!({:?})),",
            path.display().to_string()
        )
        .unwrap();
        let text = std::fs::read_to_string(path).expect("rule file");
        let file: raw::RawFile =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        writeln!(parsed, "        {index} => {},", file.emit()).unwrap();
    }
    code.push_str("];\n");
    parsed.push_str("        _ => unreachable!(\"no built-in rule file {index}\"),\n    }\n}\n");
    code.push_str(&parsed);
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join("embedded_rules.rs");
    std::fs::write(out, code).expect("write embedded_rules.rs");
}

/// Writes twtune.1.gz, twtune.bash, _twtune (zsh) and twtune.fish into
/// OUT_DIR/assets and copies them to `target/<profile>/assets/`, the path the
/// `[package.metadata.deb]` and `[package.metadata.generate-rpm]` assets name
/// (cargo-deb and cargo-generate-rpm map `target/release/` to the real target
/// folder; OUT_DIR's hashed folder name is not predictable from Cargo.toml).
fn write_assets() {
    use clap::CommandFactory as _;
    use clap_complete::Shell;

    println!("cargo:rerun-if-changed=src/cli.rs");
    println!("cargo:rerun-if-changed=man/generate.rs");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let assets = out_dir.join("assets");
    std::fs::create_dir_all(&assets).expect("create OUT_DIR/assets");

    // mtime 0 and no file name in the header: the same page gives the same
    // bytes (lintian flags a timestamped gzip), at the best compression.
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    gz.write_all(&man::render(cli::Cli::command()))
        .expect("gzip the man page");
    let page = gz.finish().expect("gzip the man page");
    std::fs::write(assets.join("twtune.1.gz"), page).expect("write twtune.1.gz");

    for (shell, file) in [
        (Shell::Bash, "twtune.bash"),
        (Shell::Zsh, "_twtune"),
        (Shell::Fish, "twtune.fish"),
    ] {
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut cli::Cli::command(), "twtune", &mut script);
        std::fs::write(assets.join(file), script).expect("write a completion script");
    }

    // OUT_DIR is <target>/<profile>/build/twtune-<hash>/out.
    if let Some(profile_dir) = out_dir.ancestors().nth(3) {
        let shared = profile_dir.join("assets");
        std::fs::create_dir_all(&shared).expect("create target/<profile>/assets");
        for entry in std::fs::read_dir(&assets).expect("read OUT_DIR/assets") {
            let path = entry.expect("OUT_DIR/assets entry").path();
            let name = path.file_name().expect("a file name");
            std::fs::copy(&path, shared.join(name)).expect("copy an asset");
        }
    }
}

/// Rust source that builds the same value: the built-in rules' parse,
/// written out as code.
trait Emit {
    fn emit(&self) -> String;
}

impl Emit for String {
    fn emit(&self) -> String {
        // Debug of a str is a valid Rust string literal.
        format!("String::from({self:?})")
    }
}

impl Emit for bool {
    fn emit(&self) -> String {
        self.to_string()
    }
}

impl Emit for finding::Severity {
    fn emit(&self) -> String {
        format!("Severity::{self:?}")
    }
}

impl<T: Emit> Emit for Option<T> {
    fn emit(&self) -> String {
        self.as_ref()
            .map_or_else(|| "None".into(), |v| format!("Some({})", v.emit()))
    }
}

impl<T: Emit> Emit for Vec<T> {
    fn emit(&self) -> String {
        let items: Vec<String> = self.iter().map(Emit::emit).collect();
        format!("vec![{}]", items.join(", "))
    }
}

impl<T: Emit> Emit for toml::Spanned<T> {
    fn emit(&self) -> String {
        let span = self.span();
        format!(
            "Spanned::new({}..{}, {})",
            span.start,
            span.end,
            self.get_ref().emit()
        )
    }
}

impl Emit for raw::RawFile {
    fn emit(&self) -> String {
        let raw::RawFile { disable, rule } = self;
        format!(
            "RawFile {{ disable: {}, rule: {} }}",
            disable.emit(),
            rule.emit()
        )
    }
}

impl Emit for raw::RawEscalation {
    fn emit(&self) -> String {
        let raw::RawEscalation { severity, when } = self;
        format!(
            "RawEscalation {{ severity: {}, when: {} }}",
            severity.emit(),
            when.emit()
        )
    }
}

impl Emit for raw::RawRule {
    fn emit(&self) -> String {
        // Destructured without `..`: a field added to RawRule and not
        // written here fails this build.
        let raw::RawRule {
            id,
            title,
            summary,
            severity,
            disabled,
            escalate,
            applies,
            requires,
            for_each,
            when,
            key,
            recommend,
            rank,
            message,
            manual,
            evidence,
            rationale,
            references,
        } = self;
        let fields = [
            ("id", id.emit()),
            ("title", title.emit()),
            ("summary", summary.emit()),
            ("severity", severity.emit()),
            ("disabled", disabled.emit()),
            ("escalate", escalate.emit()),
            ("applies", applies.emit()),
            ("requires", requires.emit()),
            ("for_each", for_each.emit()),
            ("when", when.emit()),
            ("key", key.emit()),
            ("recommend", recommend.emit()),
            ("rank", rank.emit()),
            ("message", message.emit()),
            ("manual", manual.emit()),
            ("evidence", evidence.emit()),
            ("rationale", rationale.emit()),
            ("references", references.emit()),
        ];
        let fields: Vec<String> = fields
            .into_iter()
            .map(|(name, value)| format!("{name}: {value}"))
            .collect();
        format!("RawRule {{ {} }}", fields.join(", "))
    }
}
