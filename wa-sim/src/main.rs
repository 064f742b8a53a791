fn main() {
    println!("wa-sim {}", env!("CARGO_PKG_VERSION"));
}
