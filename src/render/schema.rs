//! `twtune facts --schema`: the fact schema as text and as JSON.

use serde::Serialize;

use crate::rules::schema::VariableSchema;

/// The JSON report: `{"variables": [{"name", "holds", "paths": [{"path", "type", "description"}]}]}`.
#[derive(Debug, Serialize)]
pub struct SchemaReport {
    pub variables: Vec<VariableSchema>,
}

/// Each variable with what it holds, then its paths, types and descriptions.
pub fn human(schema: &[VariableSchema]) -> String {
    let mut out = String::new();
    for variable in schema {
        out.push_str(&format!("{}: {}\n", variable.name, variable.holds));
        let width = variable
            .paths
            .iter()
            .map(|p| p.path.len())
            .max()
            .unwrap_or(0);
        for path in &variable.paths {
            let line = format!(
                "  {:width$}  {:6}  {}",
                path.path, path.kind, path.description
            );
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out.push('\n');
    }
    out
}
