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
    for path in files {
        println!("cargo:rerun-if-changed={}", path.display());
        let name = path.file_name().unwrap().to_string_lossy();
        writeln!(
            code,
            "    ({name:?}, include_str!({:?})),",
            path.display().to_string()
        )
        .unwrap();
    }
    code.push_str("];\n");
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
