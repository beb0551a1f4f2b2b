fn main() {
    eprintln!("banlog: not built yet");
    std::process::exit(2);
}
