//! `tierwall-probe-helper`: the helper the testbed runs inside its network namespaces (servers,
//! probe clients, sysctls). See `tierwall_testbed::probe_helper`.

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    tierwall_testbed::probe_helper::main(&args)
}
