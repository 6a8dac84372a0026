//! The `ilink` command line tool.
//!
//! Login by QR, account management, sending and tailing arrive with the CLI
//! issue; until then this binary only says so.

fn main() {
    eprintln!("ilink: the command line tool is not built yet; see README.md");
    std::process::exit(2);
}
