//! The `modeloci` binary; everything is in the library, so that xtask can render the man page
//! and completions from the same command definition.

fn main() -> std::process::ExitCode {
    modeloci_cli::main()
}
