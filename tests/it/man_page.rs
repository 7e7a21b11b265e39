//! man/twtune.1 is generated from the command-line definition; this test keeps
//! it current. After changing src/cli.rs run
//! `TWTUNE_UPDATE_MAN=1 cargo test --test it man_page` and commit the result.
//! The renderer is man/generate.rs, the one build.rs gzips into the packages.

use std::path::Path;

use clap::CommandFactory;
use twtune::cli::Cli;

#[path = "../../man/generate.rs"]
mod generate;

fn render() -> Vec<u8> {
    generate::render(Cli::command())
}

#[test]
fn man_page_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("man/twtune.1");
    let fresh = render();
    if std::env::var_os("TWTUNE_UPDATE_MAN").is_some() {
        std::fs::write(&path, &fresh).unwrap();
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "man/twtune.1 is stale: run `TWTUNE_UPDATE_MAN=1 cargo test --test it man_page`"
    );
}
