//! End-to-end tests of the CLI subcommands through the binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn torture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/torture")
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "kconfig-cli-{}-{}-{}",
        tag,
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(dir: &Path, root: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tessera-kconfig"));
    c.current_dir(dir)
        .arg("--root")
        .arg(root)
        .args(args)
        .env_remove("KCONFIG_CONFIG");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn ok(o: &Output) -> (String, String) {
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        o.status.success(),
        "command failed\nstdout:\n{}\nstderr:\n{}",
        out,
        err
    );
    (out, err)
}

fn read(p: PathBuf) -> String {
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {}", p.display(), e))
}

#[test]
fn subcommands() {
    let d = tmpdir("sub");
    let root = torture();

    // olddefconfig without a .config writes the defaults.
    let (out, err) = ok(&run(&d, &root, &["olddefconfig"], &[]));
    assert!(out.contains("Configuration saved to '.config'"), "{}", out);
    assert!(
        err.contains("warning: default value 20 on COUNT_WIDE"),
        "{}",
        err
    );
    let cfg = read(d.join(".config"));
    assert!(cfg.starts_with(
        "#\n# Automatically generated file; DO NOT EDIT.\n# Torture aarch64 configuration\n#\n"
    ));
    assert!(cfg.contains("CONFIG_ARCH_AARCH64=y\n"));

    // --arch switches the sourced arch file.
    ok(&run(
        &d,
        &root,
        &["olddefconfig", "--arch", "x86", "--config", "x86.config"],
        &[],
    ));
    assert!(read(d.join("x86.config")).contains("CONFIG_ARCH_X86=y\n"));

    // KCONFIG_CONFIG is honoured when --config is absent; warnings about
    // the input carry file:line.
    std::fs::write(
        d.join("env.config"),
        "CONFIG_EXPERT=y\nCONFIG_COUNT=99\nbogus\n",
    )
    .unwrap();
    let (_, err) = ok(&run(
        &d,
        &root,
        &["olddefconfig"],
        &[("KCONFIG_CONFIG", "env.config")],
    ));
    assert!(
        err.contains("env.config:3: warning: ignoring malformed line 'bogus'"),
        "{}",
        err
    );
    assert!(
        err.contains("user value 99 on the int symbol COUNT"),
        "{}",
        err
    );
    let cfg = read(d.join("env.config"));
    assert!(
        cfg.contains("CONFIG_EXPERT=y\n") && cfg.contains("CONFIG_COUNT=4\n"),
        "{}",
        cfg
    );
    assert!(d.join("env.config.old").exists());

    // savedefconfig --out writes the minimal config; defconfig FILE
    // expands it back to the same full config.
    ok(&run(
        &d,
        &root,
        &["savedefconfig", "--config", "env.config", "--out", "min"],
        &[],
    ));
    let min = read(d.join("min"));
    // With EXPERT the wide range applies, so COUNT_WIDE's default is not
    // clamped (not written); BAD_DEFAULT_INT's clamped default is written.
    assert_eq!(min, "CONFIG_EXPERT=y\nCONFIG_BAD_DEFAULT_INT=10\n");
    ok(&run(
        &d,
        &root,
        &["defconfig", "min", "--config", "roundtrip.config"],
        &[],
    ));
    let a = read(d.join("env.config"));
    let b = read(d.join("roundtrip.config"));
    assert_eq!(a, b);

    // allnoconfig / allyesconfig.
    ok(&run(
        &d,
        &root,
        &["allnoconfig", "--config", "no.config"],
        &[],
    ));
    let no = read(d.join("no.config"));
    assert!(
        no.contains("# CONFIG_MODULES is not set\n") && no.contains("# CONFIG_UART is not set\n"),
        "{}",
        no
    );
    ok(&run(
        &d,
        &root,
        &["allyesconfig", "--config", "yes.config"],
        &[],
    ));
    let yes = read(d.join("yes.config"));
    assert!(
        yes.contains("CONFIG_EXPERT=y\n") && !yes.contains("CONFIG_SCHED_EDF=y\n"),
        "{}",
        yes
    );
    assert!(yes.contains("CONFIG_SCHED_RR=y\n"), "{}", yes);

    // randconfig is deterministic per seed.
    ok(&run(
        &d,
        &root,
        &["randconfig", "--seed", "1234", "--config", "r1"],
        &[],
    ));
    ok(&run(
        &d,
        &root,
        &["randconfig", "--seed", "1234", "--config", "r2"],
        &[],
    ));
    ok(&run(
        &d,
        &root,
        &["randconfig", "--seed", "1235", "--config", "r3"],
        &[],
    ));
    assert_eq!(read(d.join("r1")), read(d.join("r2")));
    assert_ne!(read(d.join("r1")), read(d.join("r3")));

    // listnewconfig lists symbols the .config does not mention.
    std::fs::write(d.join("partial"), "CONFIG_EXPERT=y\n").unwrap();
    let (out, _) = ok(&run(
        &d,
        &root,
        &["listnewconfig", "--config", "partial"],
        &[],
    ));
    assert!(out.contains("CONFIG_DEBUG=y\n"), "{}", out);
    assert!(!out.contains("CONFIG_EXPERT"), "{}", out);

    let o = run(&d, &root, &["frobconfig"], &[]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown subcommand 'frobconfig'"));
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn syntax_errors_are_reported_with_location() {
    let d = tmpdir("syntax");
    std::fs::write(
        d.join("Kconfig"),
        "config A\n\tbool \"a\"\n\nconfig B\n\tbool \"b\"\n\tdepends on A &&\n",
    )
    .unwrap();
    let o = run(&d, &d, &["olddefconfig"], &[]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("Kconfig:6: expected an expression"), "{}", err);
    std::fs::remove_dir_all(&d).ok();
}
