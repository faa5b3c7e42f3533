//! The `tierwall` binary: parses the command line and hands off to `tierwall_cli::run`.

fn main() -> std::process::ExitCode {
    tierwall_cli::main_with_args(std::env::args_os())
}
