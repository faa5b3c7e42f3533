//! The `tierwall` binary: hands the command line to `tierwall_cli::main_with_args`.

fn main() -> std::process::ExitCode {
    tierwall_cli::main_with_args(std::env::args_os())
}
