//! Golden files: every file `render` produces for each config in
//! `examples/`, with fixed secrets and a fixed project path, so a template
//! change shows up as a reviewed snapshot diff.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use mailctl::render::{render, Overrides, RenderInput};
use mailctl::secrets::Secrets;

fn render_example(name: &str) -> Vec<(String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    let config = mailctl::config::load_file(&path).unwrap();
    let secrets = Secrets::fixed_for_tests();
    let overrides = Overrides::new();
    let rendered = render(&RenderInput {
        config: &config,
        secrets: &secrets,
        root: Path::new("/srv/mailctl"),
        overrides: &overrides,
    })
    .unwrap();
    rendered
        .files
        .into_iter()
        // The image build contexts are copies of compose/images, not rendered.
        .filter(|file| !file.path.starts_with("images"))
        .map(|file| {
            (
                file.path.display().to_string(),
                String::from_utf8(file.contents).unwrap(),
            )
        })
        .collect()
}

fn check(example: &str) {
    let files = render_example(&format!("{example}.yaml"));
    assert!(files.len() > 5, "too few files rendered: {}", files.len());
    for (path, contents) in files {
        let name = format!("{example}__{}", path.replace(['/', '.'], "_"));
        insta::with_settings!({ snapshot_suffix => "", description => path.clone(), omit_expression => true }, {
            insta::assert_snapshot!(name, contents);
        });
    }
}

#[test]
fn one_domain() {
    check("one-domain");
}

#[test]
fn five_domains() {
    check("five-domains");
}

#[test]
fn rendering_is_repeatable() {
    assert_eq!(
        render_example("five-domains.yaml"),
        render_example("five-domains.yaml")
    );
}
