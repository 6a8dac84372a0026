//! Embeds the PostgreSQL migrations (`migrations-postgres/<version>_<name>.sql`)
//! as a list the store's migrator is built from, so adding a file is all a
//! new schema version takes.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations-postgres");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut migrations = Vec::new();
    for file in std::fs::read_dir(&dir).expect("migrations-postgres is readable") {
        let path = file.expect("migrations-postgres is readable").path();
        println!("cargo:rerun-if-changed={}", path.display());
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(stem) = name.strip_suffix(".sql") else {
            continue;
        };
        let (version, description) = stem
            .split_once('_')
            .unwrap_or_else(|| panic!("migration {name} is not named <version>_<name>.sql"));
        let version: i64 = version
            .parse()
            .unwrap_or_else(|_| panic!("migration {name} does not start with its version"));
        migrations.push((version, description.replace('_', " "), path));
    }
    migrations.sort_by_key(|(version, ..)| *version);
    let mut code = String::from("&[\n");
    for (version, description, path) in &migrations {
        writeln!(
            code,
            "    ({version}, {description:?}, include_str!({:?})),",
            path.display().to_string()
        )
        .expect("writing to a String");
    }
    code.push(']');
    let out = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("postgres_migrations.rs");
    std::fs::write(out, code).expect("OUT_DIR is writable");
}
