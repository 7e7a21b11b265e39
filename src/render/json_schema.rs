//! The JSON Schemas (draft 2020-12) of the JSON documents twtune prints:
//! the contract of `--format json`, as data (`twtune schema DOCUMENT`).
//!
//! They are generated from the very types the documents are serialised from
//! ([`CheckReport`], [`FactsReport`], [`PlanReport`], [`RollbackReport`] and
//! [`NothingToRollBack`]), with serde's attributes deciding names, so a schema
//! cannot drift from its document. Generated for serialisation: a field is
//! required unless serde may leave it out, `null` is allowed exactly where the
//! field is an `Option`. Objects allow properties their type does not have:
//! fields are only ever added within a `schema_version` (docs/json.md), so a
//! consumer validating against this version's schema keeps accepting the
//! documents of a later build of the same version. Each schema opens with an
//! `$id` naming its document and version. `schemas/*.schema.json` are these
//! schemas, committed; a test keeps them current.
//!
//! Not to be confused with the rule fact schema (`facts --schema`,
//! [`crate::rules::schema`]): that lists what a rule condition may name.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use super::SCHEMA_VERSION;
use super::apply_report::{NothingToRollBack, PLAN_SCHEMA_VERSION, PlanReport, RollbackReport};
use super::json::{CheckReport, FactsReport};

/// `twtune rollback --format json` prints one of two shapes: what a rollback
/// restores, or (no apply recorded) an empty one. Exists for its schema.
#[derive(Serialize, JsonSchema)]
#[serde(untagged)]
pub enum RollbackDocument<'a> {
    Rollback(RollbackReport<'a>),
    NothingToRollBack(NothingToRollBack),
}

/// `twtune check --format json`.
pub fn check() -> Value {
    document::<CheckReport>(
        "check",
        "twtune check --format json",
        "The findings of `twtune check`, the facts they rest on, and the verdict (`status`) the exit status is derived from.",
        SCHEMA_VERSION,
    )
}

/// `twtune facts --format json`.
pub fn facts() -> Value {
    document::<FactsReport>(
        "facts",
        "twtune facts --format json",
        "Every fact `twtune facts` gathered about the host.",
        SCHEMA_VERSION,
    )
}

/// `twtune apply --format json` (with or without `--dry-run`).
pub fn plan() -> Value {
    document::<PlanReport>(
        "plan",
        "twtune apply --format json",
        "The plan of `twtune apply` (runtime changes and the persisted file's diff), and whether it was carried out.",
        PLAN_SCHEMA_VERSION,
    )
}

/// `twtune rollback --format json` (with or without `--dry-run`).
pub fn rollback() -> Value {
    document::<RollbackDocument>(
        "rollback",
        "twtune rollback --format json",
        "What `twtune rollback` restores, or, when no apply is recorded, an empty rollback (`rollback_of` null).",
        PLAN_SCHEMA_VERSION,
    )
}

/// `twtune check --all-netns --format json`.
pub fn check_all_netns() -> Value {
    document::<super::netns::AllNetnsReport>(
        "check-all-netns",
        "twtune check --all-netns --format json",
        "Every network namespace on the host, each checked as a single check would be: its names, processes, container, verdict, findings and facts; the top-level `status` is the worst namespace's.",
        SCHEMA_VERSION,
    )
}

/// The `$id` of a document's schema at a version: a URN, since the schema
/// is identified, not fetched (`twtune schema DOCUMENT` prints it).
pub fn id(document: &str, version: u32) -> String {
    format!("urn:twtune:schema:{document}:{version}")
}

fn document<T: JsonSchema + ?Sized>(
    name: &str,
    title: &str,
    description: &str,
    version: u32,
) -> Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator();
    let mut schema = generator.into_root_schema_for::<T>();
    schema.insert("$id".into(), id(name, version).into());
    schema.insert("title".into(), title.into());
    schema.insert("description".into(), description.into());
    let mut value = schema.to_value();
    pin_schema_version(&mut value, version);
    value
}

/// `schema_version` is a constant of this build: the schema states which.
/// In every shape of the document (the rollback document has two).
fn pin_schema_version(value: &mut Value, version: u32) {
    let pin = |object: &mut Value| {
        if let Some(field) = object
            .pointer_mut("/properties/schema_version")
            .and_then(Value::as_object_mut)
        {
            field.insert("const".into(), version.into());
        }
    };
    pin(value);
    if let Some(definitions) = value.get_mut("$defs").and_then(Value::as_object_mut) {
        for definition in definitions.values_mut() {
            pin(definition);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_document_is_a_draft_2020_12_schema() {
        for schema in [check(), facts(), plan(), rollback(), check_all_netns()] {
            assert_eq!(
                schema["$schema"],
                "https://json-schema.org/draft/2020-12/schema"
            );
            let id = schema["$id"].as_str().unwrap();
            assert!(id.starts_with("urn:twtune:schema:"), "{id}");
        }
        assert_eq!(
            check()["$id"],
            format!("urn:twtune:schema:check:{SCHEMA_VERSION}")
        );
    }

    #[test]
    fn the_check_status_is_one_of_its_words() {
        let schema = check();
        let status = &schema["$defs"]["Status"];
        // An enum, or one `const` a variant where the variants are documented.
        let words: Vec<&str> = match status["enum"].as_array() {
            Some(words) => words.iter().filter_map(Value::as_str).collect(),
            None => status["oneOf"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|variant| variant["const"].as_str())
                .collect(),
        };
        assert_eq!(
            words,
            ["compliant", "changes_pending", "incomplete", "error"],
            "{status}"
        );
    }

    #[test]
    fn the_rollback_document_accepts_both_shapes() {
        let schema = rollback();
        let shapes = schema["anyOf"].as_array().map(Vec::len);
        assert_eq!(shapes, Some(2), "{schema}");
    }
}
