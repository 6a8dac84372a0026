//! What the examples print for a person to read: lines on stdout that never
//! stop a bot. A bot's stdout may be a pipe whose reader has gone
//! (`cargo run --bin demo | head`), where `println!` panics, in the middle
//! of serving users, over output nobody reads any more; the logs go to
//! stderr either way.

/// Prints a line on stdout, as `println!` does, but carries on when stdout
/// cannot be written (a closed pipe, a full disk).
///
/// ```
/// ilink_examples::outln!("Running: {}", "demo@im.bot");
/// ```
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::console::line(::std::format_args!($($arg)*))
    };
}

/// The function behind [`outln!`].
pub fn line(text: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}
