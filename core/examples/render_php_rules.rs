//! Prints `wp-plugin/banlog/includes/class-banlog-rules.php` (see `banlog_core::rules`).
//! `make rules-php` runs it.

fn main() {
    print!("{}", banlog_core::rules::render_php());
}
