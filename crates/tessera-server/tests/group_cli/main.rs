//! `tessera group …` and `tessera user set … groups=… user_permissions=…`, through the real
//! binary.

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// The binary with a clean environment, working in `dir`.
fn tessera(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tessera"))
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TESSERA_DATA_DIR", dir.join("data"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs `args`, which must succeed, and returns what it printed.
fn ok(dir: &Path, args: &[&str]) -> String {
    let output = tessera(dir, args);
    assert!(output.status.success(), "{args:?}: {}", text(&output));
    text(&output)
}

/// Runs `args`, which must fail, and returns what it printed.
fn fails(dir: &Path, args: &[&str]) -> String {
    let output = tessera(dir, args);
    assert!(!output.status.success(), "{args:?}: {}", text(&output));
    text(&output)
}

#[test]
fn groups_are_created_granted_revoked_listed_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    ok(dir, &["migrate"]);

    let created = ok(dir, &["group", "create", "editors", "notes.change_note"]);
    assert!(
        created.contains("Group editors created (1 permission(s): notes.change_note)"),
        "{created}"
    );
    let taken = fails(dir, &["group", "create", "editors"]);
    assert!(
        taken.contains("group with this name already exists."),
        "{taken}"
    );
    let bad = fails(dir, &["group", "create", "writers", "Not-A-Permission"]);
    assert!(bad.contains("is not a valid permission"), "{bad}");

    let granted = ok(
        dir,
        &[
            "group",
            "grant",
            "editors",
            "notes.add_note",
            "notes.view_note",
        ],
    );
    assert!(
        granted.contains("notes.add_note notes.change_note notes.view_note"),
        "{granted}"
    );
    let revoked = ok(dir, &["group", "revoke", "editors", "notes.change_note"]);
    assert!(
        revoked.contains("2 permission(s): notes.add_note notes.view_note"),
        "{revoked}"
    );
    let listed = ok(dir, &["group", "list"]);
    assert!(listed.contains("editors"), "{listed}");
    assert!(listed.contains("1 group(s)"), "{listed}");

    let unknown = fails(dir, &["group", "grant", "ghosts", "notes.add_note"]);
    assert!(unknown.contains("no group named \"ghosts\""), "{unknown}");
    ok(dir, &["group", "delete", "editors"]);
    assert!(ok(dir, &["group", "list"]).contains("0 group(s)"));
    fails(dir, &["group", "delete", "editors"]);
}

#[test]
fn a_users_groups_and_permissions_are_set_and_shown() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    ok(
        dir,
        &[
            "createsuperuser",
            "--email",
            "ada@example.com",
            "--no-input",
        ],
    );
    ok(dir, &["group", "create", "editors", "notes.change_note"]);

    let set = ok(
        dir,
        &[
            "user",
            "set",
            "ada@example.com",
            "groups=editors",
            "user_permissions=notes.view_note,notes.add_note",
        ],
    );
    assert!(set.contains("set groups, user_permissions"), "{set}");
    let shown = ok(dir, &["user", "show", "ada@example.com"]);
    assert!(shown.contains("groups:        editors"), "{shown}");
    assert!(
        shown.contains("permissions:   notes.add_note notes.view_note"),
        "{shown}"
    );

    let unknown = fails(dir, &["user", "set", "ada@example.com", "groups=ghosts"]);
    assert!(
        unknown.contains("groups: Object with name=ghosts does not exist."),
        "{unknown}"
    );
    ok(
        dir,
        &[
            "user",
            "set",
            "ada@example.com",
            "groups=",
            "user_permissions=",
        ],
    );
    let shown = ok(dir, &["user", "show", "ada@example.com"]);
    assert!(shown.contains("groups:        -"), "{shown}");
    assert!(shown.contains("permissions:   -"), "{shown}");
}

/// Grants and revokes run at the same time all count: each adds or removes its own rows
/// rather than writing back the list it read.
#[test]
fn concurrent_grants_and_revokes_all_count() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    ok(dir, &["migrate"]);
    let kept: Vec<String> = (0..6).map(|i| format!("notes.kept_{i}")).collect();
    let mut create = vec!["group", "create", "editors"];
    create.extend(kept.iter().map(String::as_str));
    ok(dir, &create);

    let spawn = |args: Vec<String>| {
        Command::new(env!("CARGO_BIN_EXE_tessera"))
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("TESSERA_DATA_DIR", dir.join("data"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let command = |verb: &str, permission: &str| {
        ["group", verb, "editors", permission]
            .map(str::to_owned)
            .to_vec()
    };
    let mut children = Vec::new();
    for (i, kept) in kept.iter().enumerate() {
        children.push(spawn(command("grant", &format!("notes.added_{i}"))));
        children.push(spawn(command("revoke", kept)));
    }
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", text(&output));
    }

    let listed = ok(dir, &["group", "list"]);
    let line = listed.lines().find(|l| l.contains("editors")).unwrap();
    let held: Vec<&str> = line.split_whitespace().skip(2).collect();
    let added: Vec<String> = (0..6).map(|i| format!("notes.added_{i}")).collect();
    assert_eq!(held, added, "{listed}");
}
