fn main() {
    println!("wa-sidecar {}", env!("CARGO_PKG_VERSION"));
}
