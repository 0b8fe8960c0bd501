//! Migrations of `mailctl.yaml` between schema versions. Each step turns
//! the document of version N into version N+1 on the parsed YAML tree (so a
//! step can rename or move keys the current `Config` type no longer knows).
//! `mailctl upgrade` runs them and keeps the old file as
//! `mailctl.yaml.v<N>.bak`.
//!
//! Version 1 is the first schema, so the list of steps is empty today; the
//! mechanism is here (and tested with a step of its own) so that the next
//! schema change only adds a function to [`STEPS`].

use serde_json::Value;

use super::CURRENT_VERSION;

/// A step from version `from` to `from + 1`.
pub struct Step {
    pub from: u32,
    pub describe: &'static str,
    pub apply: fn(&mut Value) -> anyhow::Result<()>,
}

/// Every migration this build knows, oldest first.
pub const STEPS: &[Step] = &[];

/// The result of migrating a document.
#[derive(Debug, Clone, PartialEq)]
pub struct Migrated {
    pub from: u32,
    pub to: u32,
    /// What each applied step did.
    pub applied: Vec<String>,
    pub document: Value,
}

/// Parses configuration text into a plain tree, without validating it.
pub fn read_document(text: &str) -> anyhow::Result<Value> {
    Ok(serde_saphyr::from_str(text)?)
}

/// The YAML text of a tree.
pub fn write_document(document: &Value) -> anyhow::Result<String> {
    Ok(serde_saphyr::to_string(document)?)
}

/// The `version:` of a parsed document.
pub fn version_of(document: &Value) -> anyhow::Result<u32> {
    document
        .get("version")
        .and_then(Value::as_u64)
        .and_then(|version| u32::try_from(version).ok())
        .ok_or_else(|| anyhow::anyhow!("the configuration has no numeric `version:`"))
}

/// Migrates `document` to `target` with `steps`; `None` when it is at
/// `target` already. Pure.
pub fn migrate_with(
    mut document: Value,
    target: u32,
    steps: &[Step],
) -> anyhow::Result<Option<Migrated>> {
    let from = version_of(&document)?;
    if from == target {
        return Ok(None);
    }
    if from > target {
        anyhow::bail!(
            "the configuration has version {from}, newer than this mailctl's {target}: upgrade mailctl"
        );
    }
    let mut applied = Vec::new();
    for version in from..target {
        let Some(step) = steps.iter().find(|step| step.from == version) else {
            anyhow::bail!(
                "no migration from configuration version {version} to {}",
                version + 1
            );
        };
        (step.apply)(&mut document)?;
        if let Some(object) = document.as_object_mut() {
            object.insert("version".to_owned(), Value::from(version + 1));
        }
        applied.push(format!("{} -> {}: {}", version, version + 1, step.describe));
    }
    Ok(Some(Migrated {
        from,
        to: target,
        applied,
        document,
    }))
}

/// Migrates `document` to this build's version with the built-in steps.
pub fn migrate(document: Value) -> anyhow::Result<Option<Migrated>> {
    migrate_with(document, CURRENT_VERSION, STEPS)
}

/// The name the old file keeps: `mailctl.yaml.v<N>.bak`.
pub fn backup_name(from: u32) -> String {
    format!("{}.v{from}.bak", super::CONFIG_FILE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rename_limits(document: &mut Value) -> anyhow::Result<()> {
        if let Some(object) = document.as_object_mut() {
            if let Some(limits) = object.remove("limit") {
                object.insert("limits".to_owned(), limits);
            }
        }
        Ok(())
    }

    const TEST_STEPS: &[Step] = &[Step {
        from: 1,
        describe: "`limit` is now `limits`",
        apply: rename_limits,
    }];

    #[test]
    fn a_current_document_needs_nothing() {
        assert_eq!(migrate(json!({"version": CURRENT_VERSION})).unwrap(), None);
    }

    #[test]
    fn steps_run_in_order_and_set_the_version() {
        let migrated = migrate_with(json!({"version": 1, "limit": {"a": 1}}), 2, TEST_STEPS)
            .unwrap()
            .unwrap();
        assert_eq!(migrated.from, 1);
        assert_eq!(migrated.to, 2);
        assert_eq!(migrated.document, json!({"version": 2, "limits": {"a": 1}}));
        assert_eq!(migrated.applied, vec!["1 -> 2: `limit` is now `limits`"]);
    }

    #[test]
    fn a_gap_or_a_newer_document_is_an_error() {
        assert!(migrate_with(json!({"version": 1}), 3, TEST_STEPS).is_err());
        assert!(migrate_with(json!({"version": 5}), 2, TEST_STEPS).is_err());
        assert!(migrate_with(json!({"name": "x"}), 2, TEST_STEPS).is_err());
        assert_eq!(backup_name(1), "mailctl.yaml.v1.bak");
    }
}
