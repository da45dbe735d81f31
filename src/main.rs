#![deny(unsafe_code)]

fn main() {
    std::process::exit(tradeward::cli::main());
}
