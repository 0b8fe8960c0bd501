//! Golden files: every file `render` produces for each config in
//! `examples/`, with fixed secrets and a fixed project path, so a template
//! change shows up as a reviewed snapshot diff.

use std::path::Path;

use mailctl::render::{render, Overrides, RenderInput};
use mailctl::secrets::Secrets;

fn render_example(name: &str) -> Vec<(String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    render_config(&mailctl::config::load_file(&path).unwrap())
}

/// Every file `render` produces for `config`, as (path, text).
fn render_config(config: &mailctl::config::Config) -> Vec<(String, String)> {
    let secrets = Secrets::fixed_for_tests();
    let overrides = Overrides::new();
    let rendered = render(&RenderInput {
        config,
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

/// The resolver on a network with its own DNS: forwarders and a private
/// root's trust anchor (the simulated internet of the end-to-end tests).
#[test]
fn resolver_with_forwarders_and_a_private_root() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/one-domain.yaml");
    let mut config = mailctl::config::load_file(&path).unwrap();
    config.network.dns_forwarders =
        vec!["198.51.100.53".to_owned(), "198.51.100.54:5353".to_owned()];
    config.network.dns_trust_anchors = vec![
        ". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D"
            .to_owned(),
    ];
    let (_, unbound) = render_config(&config)
        .into_iter()
        .find(|(path, _)| path == "config/resolver/unbound.conf")
        .unwrap();
    insta::assert_snapshot!("private-dns__config_resolver_unbound_conf", unbound);
}
