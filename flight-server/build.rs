//! Embeds the web console (`clients/console/`: HTML, JavaScript modules,
//! CSS, icons) in the binary: writes the table of its files for
//! `src/http/console.rs`.

use std::fmt::Write;
use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../clients/console");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            files.push(entry.path());
        }
    }
    files.sort();
    let mut table = String::from("/// The console's files: name and contents.\n");
    table.push_str("pub(super) const ASSETS: &[(&str, &[u8])] = &[\n");
    for path in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or("console file names must be UTF-8")?;
        let full = path.display().to_string();
        writeln!(table, "    ({name:?}, include_bytes!({full:?})),")?;
    }
    table.push_str("];\n");
    let out = Path::new(&std::env::var("OUT_DIR")?).join("console_assets.rs");
    std::fs::write(out, table)?;
    Ok(())
}
