//! `socksbridge`: the headless proxy. All logic lives in the library (`socksbridge::cli`).

fn main() -> std::process::ExitCode {
    socksbridge::cli::main()
}
