//! The README's library program is `examples/quickstart.rs`, which `cargo test` builds: the
//! two must not drift apart.

#[test]
fn the_readme_shows_the_quickstart_example_as_it_is() {
    let readme = include_str!("../../../README.md");
    let example = include_str!("../examples/quickstart.rs");
    let start = readme
        .find("```rust\n//! An axum application on Tessera")
        .expect("the README shows the quickstart example in a ```rust block");
    let code = &readme[start + "```rust\n".len()..];
    let end = code.find("\n```").expect("the block ends");
    assert_eq!(
        &code[..=end],
        example,
        "README.md's library program differs from crates/tessera-axum/examples/quickstart.rs"
    );
}
