fn main() {
    std::process::exit(tradeward::cli::main());
}
