//! Drives the real menuconfig binary inside a detached tmux session:
//! toggles a bool, edits an int (with a rejected out-of-range value first),
//! uses search and help, saves, and quits through the "Save changes?"
//! prompt. Needs tmux (Debian: `apt-get install -y tmux`); fails if absent.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("running tmux")
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "kc"];
        args.extend_from_slice(keys);
        let o = self.cmd(&args);
        assert!(
            o.status.success(),
            "send-keys failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    fn text(&self, text: &str) {
        let o = self.cmd(&["send-keys", "-t", "kc", "-l", text]);
        assert!(o.status.success());
    }

    fn pane(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "kc"]).stdout).into_owned()
    }

    /// Waits until the pane satisfies `pred`, panicking with the pane
    /// contents after a timeout.
    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let p = self.pane();
            if pred(&p) {
                return p;
            }
            if start.elapsed() > Duration::from_secs(10) {
                panic!("timed out waiting for {}; pane:\n{}", what, p);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_text(&self, needle: &str) -> String {
        self.wait_for(needle, |p| p.contains(needle))
    }

    fn alive(&self) -> bool {
        self.cmd(&["has-session", "-t", "kc"]).status.success()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

/// The line of the pane containing `needle`.
fn line_with<'a>(pane: &'a str, needle: &str) -> &'a str {
    pane.lines().find(|l| l.contains(needle)).unwrap_or("")
}

fn tmpdir() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "kconfig-tmux-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

#[test]
fn menuconfig_under_tmux() {
    let have_tmux = Command::new("tmux")
        .arg("-V")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        have_tmux,
        "tmux is required for this test (Debian: apt-get install -y tmux)"
    );

    let tree = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/menuconfig_tree");
    let dir = tmpdir();
    let config = dir.join(".config");
    let bin = env!("CARGO_BIN_EXE_tessera-kconfig");
    let tmux = Tmux {
        socket: format!("kconfig-test-{}", std::process::id()),
    };
    let command = format!(
        "'{}' --root '{}' menuconfig --config '{}' 2>'{}'",
        bin,
        tree.display(),
        config.display(),
        dir.join("stderr").display()
    );
    let o = tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "kc",
        "-x",
        "100",
        "-y",
        "30",
        "-c",
        dir.to_str().unwrap(),
        &command,
    ]);
    assert!(
        o.status.success(),
        "tmux new-session failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let _ = tmux.cmd(&["set-option", "-g", "escape-time", "0"]);

    // Main menu: FOO is off, the hidden symbol is not shown, BAR (depends
    // on FOO) is not shown inside Numbers yet.
    let p = tmux.wait_text("Menuconfig test tree");
    assert!(line_with(&p, "Foo feature").contains("[ ]"), "{}", p);
    assert!(!p.contains("Secret option"), "hidden symbol shown:\n{}", p);
    assert!(p.contains("Mode (Slow mode)"), "{}", p);

    // Toggle FOO (first entry) with space.
    tmux.keys(&["Space"]);
    tmux.wait_for("FOO enabled", |p| {
        line_with(p, "Foo feature").contains("[*]")
    });

    // Help on FOO shows the status line and the help text.
    tmux.keys(&["?"]);
    let p = tmux.wait_text("Symbol: FOO");
    assert!(p.contains("Status: stable"), "{}", p);
    assert!(p.contains("Enables foo."), "{}", p);
    tmux.keys(&["Escape"]);
    tmux.wait_for("help closed", |p| !p.contains("Symbol: FOO"));

    // Enter "Numbers", edit BAR: an out-of-range value is rejected.
    tmux.keys(&["Down", "Enter"]);
    let p = tmux.wait_text("Bar count");
    assert!(line_with(&p, "Bar count").contains("(10)"), "{}", p);
    tmux.keys(&["Enter"]);
    tmux.wait_text("> 10_");
    tmux.keys(&["BSpace", "BSpace"]);
    tmux.text("500");
    tmux.keys(&["Enter"]);
    tmux.wait_text("outside the range [1, 100]");
    tmux.keys(&["BSpace", "BSpace", "BSpace"]);
    tmux.text("42");
    tmux.keys(&["Enter"]);
    tmux.wait_for("BAR = 42", |p| line_with(p, "Bar count").contains("(42)"));

    // Save with 's'.
    tmux.keys(&["s"]);
    tmux.wait_text("Configuration saved");
    let saved = read(&config);
    assert!(saved.contains("CONFIG_FOO=y\n"), "{}", saved);
    assert!(saved.contains("CONFIG_BAR=42\n"), "{}", saved);

    // Search for BAR: result shows symbol, prompt, location, depends on.
    tmux.keys(&["/"]);
    tmux.text("bar");
    let p = tmux.wait_text("Symbol: BAR [=42]");
    assert!(p.contains("Prompt: Bar count"), "{}", p);
    assert!(
        p.contains("Location: Menuconfig test tree > Numbers"),
        "{}",
        p
    );
    assert!(p.contains("Depends on: FOO [=y]"), "{}", p);
    tmux.keys(&["Escape"]);
    tmux.wait_for("search closed", |p| !p.contains("Symbol: BAR"));

    // Back to the top, pick the other choice member.
    tmux.keys(&["Escape"]);
    tmux.wait_text("Mode (Slow mode)");
    tmux.keys(&["End", "Enter"]);
    tmux.wait_text("Fast mode");
    tmux.keys(&["Home", "Space"]);
    tmux.wait_for("fast selected", |p| {
        line_with(p, "Fast mode").contains("(X)")
    });
    tmux.keys(&["Escape"]);
    tmux.wait_text("Mode (Fast mode)");

    // Quit with unsaved changes: answer the prompt with y.
    tmux.keys(&["q"]);
    tmux.wait_text("Save changes? (y/n)");
    tmux.keys(&["y"]);
    let start = Instant::now();
    while tmux.alive() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "menuconfig did not exit:\n{}",
            tmux.pane()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let saved = read(&config);
    assert!(saved.contains("CONFIG_MODE_FAST=y\n"), "{}", saved);
    assert!(
        saved.contains("# CONFIG_MODE_SLOW is not set\n"),
        "{}",
        saved
    );
    assert!(saved.contains("CONFIG_BAR=42\n"), "{}", saved);
    assert!(saved.contains("CONFIG_LABEL=\"tessera\"\n"), "{}", saved);
    assert!(!saved.contains("SECRET"), "{}", saved);
    // The previous version was kept as .config.old.
    assert!(read(&dir.join(".config.old")).contains("CONFIG_MODE_SLOW=y"));
    let _ = std::fs::remove_dir_all(&dir);
}
