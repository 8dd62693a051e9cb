fn main() {
    std::process::exit(aura_host::cli::main());
}
