//! `mailctl render`: write `generated/` from `mailctl.yaml`, or with
//! `--check` / `--diff` only report what would change.

use super::Global;
use crate::cli::RenderArgs;
use crate::error::Silent;
use crate::output;
use crate::project::Project;
use crate::render;

pub fn run(global: &Global, args: &RenderArgs) -> anyhow::Result<()> {
    let project = Project::new(&global.dir)?;
    let config = project.load_config()?;
    if args.check || args.diff {
        let rendered = render::project_in_memory(&project, &config)?;
        let difference = render::compare(&project.generated_dir(), &rendered.files)?;
        for path in &difference.missing {
            output::status(format!("missing  generated/{}", path.display()));
        }
        for (path, old, new) in &difference.changed {
            output::status(format!("changed  generated/{}", path.display()));
            if args.diff {
                let diff = similar::TextDiff::from_lines(old, new);
                output::data(
                    diff.unified_diff()
                        .context_radius(3)
                        .header(
                            &format!("a/generated/{}", path.display()),
                            &format!("b/generated/{}", path.display()),
                        )
                        .to_string(),
                );
            }
        }
        for path in &difference.stale {
            output::status(format!("stale    generated/{}", path.display()));
        }
        if difference.is_empty() {
            output::status("generated files are up to date");
            return Ok(());
        }
        if args.check {
            output::status("generated files are out of date; run `mailctl render`");
            return Err(Silent(1).into());
        }
        return Ok(());
    }
    let _lock = project.lock()?;
    let report = render::write_project(&project, &config)?;
    for path in &report.created {
        output::detail(format!("created generated/{}", path.display()));
    }
    for path in &report.updated {
        output::status(format!("updated generated/{}", path.display()));
    }
    for path in &report.removed {
        output::status(format!("removed generated/{}", path.display()));
    }
    if report.changed() {
        output::status(format!(
            "rendered: {} created, {} updated, {} removed, {} unchanged",
            report.created.len(),
            report.updated.len(),
            report.removed.len(),
            report.unchanged
        ));
    } else {
        output::status("nothing to render: generated files are up to date");
    }
    Ok(())
}
