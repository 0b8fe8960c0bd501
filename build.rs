//! Rebuild when the embedded templates or image contexts change (new files
//! included, which `include_dir!` alone does not notice).

fn main() {
    println!("cargo:rerun-if-changed=templates");
    println!("cargo:rerun-if-changed=compose");
}
