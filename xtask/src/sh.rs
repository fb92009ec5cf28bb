//! Running commands: echo them, fail with their exit status.

use anyhow::{bail, Context, Result};
use std::process::{Command, Stdio};

pub fn cmd(program: &str, args: &[&str]) -> Command {
    let mut c = Command::new(program);
    c.args(args);
    c
}

/// Runs `c`, inheriting stdio; an unsuccessful exit is an error.
pub fn run(c: &mut Command) -> Result<()> {
    eprintln!("+ {}", describe(c));
    let status = c.status().with_context(|| format!("cannot run {}", describe(c)))?;
    if !status.success() {
        bail!("{} failed: {status}", describe(c));
    }
    Ok(())
}

/// Runs `c` quietly and tells whether it succeeded.
pub fn succeeds(c: &mut Command) -> bool {
    c.stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

pub fn describe(c: &Command) -> String {
    let mut s = c.get_program().to_string_lossy().into_owned();
    for a in c.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs `c` and returns its stdout; an unsuccessful exit is an error.
pub fn output(c: &mut Command) -> Result<String> {
    let out = c.output().with_context(|| format!("cannot run {}", describe(c)))?;
    if !out.status.success() {
        bail!("{} failed: {}", describe(c), out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
