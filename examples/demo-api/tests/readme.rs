//! The README's "Recipes" section shows demo-api's code as it is: every code block there is
//! a word-for-word excerpt of the file its first line names, and every test it names under
//! "Kept true by" exists in the file named before it.

use std::path::{Path, PathBuf};

const README: &str = include_str!("../../../README.md");
const SECTION: &str = "## Recipes (the DRF cookbook in Tessera)";

/// The repository's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The text of `path`, relative to the repository's root.
fn file(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// The recipes section, up to the next section.
fn section() -> &'static str {
    let start = README
        .find(&format!("\n{SECTION}\n"))
        .expect("the README has the recipes section");
    let rest = &README[start + 1..];
    let end = rest[SECTION.len()..]
        .find("\n## ")
        .map_or(rest.len(), |i| SECTION.len() + i + 1);
    &rest[..end]
}

/// The `rust` code blocks of `text`.
fn rust_blocks(text: &str) -> Vec<&str> {
    text.split("```rust\n")
        .skip(1)
        .map(|block| &block[..block.find("\n```").expect("the block ends") + 1])
        .collect()
}

#[test]
fn every_recipe_block_is_an_excerpt_of_the_file_it_names() {
    let blocks = rust_blocks(section());
    assert!(blocks.len() >= 7, "only {} blocks", blocks.len());
    for block in blocks {
        let (first, code) = block.split_once('\n').expect("a block has lines");
        let path = first
            .strip_prefix("// ")
            .filter(|p| p.starts_with("examples/demo-api/src/"))
            .unwrap_or_else(|| panic!("a block opens with the file it is from: {first:?}"));
        assert!(
            file(path).contains(code),
            "README.md's excerpt of {path} is not in it any more:\n{code}"
        );
    }
}

#[test]
fn every_test_a_recipe_names_exists() {
    let mut named = 0;
    for paragraph in section().split("\n\n") {
        let Some(list) = paragraph.strip_prefix("Kept true by ") else {
            continue;
        };
        // `path`: `test`, `test`… — the odd pieces between backticks.
        let mut pieces = list.split('`').skip(1).step_by(2);
        let path = pieces.next().expect("the test file");
        assert!(path.starts_with("examples/demo-api/tests/"), "{path}");
        let tests = file(path);
        for name in pieces {
            assert!(
                tests.contains(&format!("#[tokio::test]\nasync fn {name}(")),
                "{path} has no test {name}"
            );
            named += 1;
        }
    }
    assert!(named >= 7, "only {named} tests named");
}
