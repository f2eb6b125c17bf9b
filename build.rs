//! With the `xdp` feature, compiles ebpf/wvnr_xdp.c into a BPF object that
//! src/ingest/xdp_program.rs embeds. The default build needs no clang.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_XDP").is_some() {
        xdp::build();
    }
}

mod xdp {
    use std::path::PathBuf;
    use std::process::Command;

    const SOURCE: &str = "ebpf/wvnr_xdp.c";

    pub fn build() {
        println!("cargo:rerun-if-changed={SOURCE}");
        println!("cargo:rerun-if-env-changed=CLANG");
        let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang".into());
        let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("wvnr_xdp.o");
        let mut cmd = Command::new(&clang);
        cmd.args(["-O2", "-g", "-Wall", "-Werror", "-target", "bpf"]);
        // Debian keeps asm/types.h under the multiarch directory.
        for dir in ["/usr/include/x86_64-linux-gnu", "/usr/include/aarch64-linux-gnu"] {
            if std::path::Path::new(dir).is_dir() {
                cmd.arg(format!("-I{dir}"));
            }
        }
        cmd.arg("-c").arg(SOURCE).arg("-o").arg(&out);
        let status = match cmd.status() {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "the `xdp` feature compiles {SOURCE} with clang, and `{clang}` is not installed: \
                 apt-get install clang libbpf-dev (or set CLANG=/path/to/clang)"
            ),
            Err(e) => panic!("cannot run {clang}: {e}"),
        };
        if !status.success() {
            panic!(
                "{clang} could not compile {SOURCE} ({status}); is libbpf-dev installed \
                 (bpf/bpf_helpers.h)? apt-get install libbpf-dev"
            );
        }
    }
}
