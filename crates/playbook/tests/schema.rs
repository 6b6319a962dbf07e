//! The committed playbook schema is the one generated from the types that read playbook files.
//! After changing those types, write it again with
//! `cargo run -p vigil-cli -- playbook schema > playbooks/playbook.schema.json`.

use std::path::Path;

#[test]
fn committed_schema_is_the_generated_one() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../playbooks/playbook.schema.json");
    let committed = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let generated = vigil_playbook::playbook_schema_text();
    assert!(
        committed == generated,
        "{} differs from the schema generated from the playbook types; regenerate it with \
         `cargo run -p vigil-cli -- playbook schema > playbooks/playbook.schema.json`\n\ngenerated:\n{generated}",
        path.display()
    );
}

#[test]
fn schema_names_every_mode_action_and_source() {
    let schema = vigil_playbook::playbook_schema_text();
    for name in [
        "dry_run",
        "enforce",
        "approve",
        "stop_task",
        "tag_task",
        "record",
        "falco",
        "guardduty",
        "sysdig",
        "agent",
    ] {
        assert!(schema.contains(&format!("\"{name}\"")), "{name} missing");
    }
}
