//! Docker's rules for what a container runs and with which environment.
//!
//! Images store ENTRYPOINT and CMD as argument vectors: a Dockerfile's shell
//! form (`CMD echo hi`) was already turned into `["/bin/sh", "-c", "echo hi"]`
//! when the image was built ([`shell_form`]), so at run time both are exec
//! form and are simply concatenated.

use crate::config::{ImageConfig, ProcessSpec, RunOptions};
use crate::error::{Error, Result};

/// The `PATH` a container gets when neither the image nor `-e` sets one.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A shell-form instruction as an image stores it.
pub fn shell_form(command: &str) -> Vec<String> {
    vec!["/bin/sh".into(), "-c".into(), command.into()]
}

/// ENTRYPOINT + CMD after the run's overrides: arguments replace CMD;
/// `--entrypoint` replaces ENTRYPOINT and clears CMD (an empty one clears
/// ENTRYPOINT too).
pub fn command(
    image: &ImageConfig,
    entrypoint: Option<&str>,
    args: &[String],
) -> Result<Vec<String>> {
    let entry: Vec<String> = match entrypoint {
        Some("") => Vec::new(),
        Some(e) => vec![e.to_string()],
        None => image.entrypoint.clone().unwrap_or_default(),
    };
    let cmd: Vec<String> = if !args.is_empty() {
        args.to_vec()
    } else if entrypoint.is_some() {
        Vec::new()
    } else {
        image.cmd.clone().unwrap_or_default()
    };
    let argv: Vec<String> = entry.into_iter().chain(cmd).collect();
    if argv.is_empty() {
        return Err(Error::NoCommand);
    }
    Ok(argv)
}

/// The image's Env, overridden key by key by `-e` (a bare `KEY` takes the
/// caller's value, or is dropped if the caller has none), then the defaults
/// Docker adds: `PATH`, `HOSTNAME`. `HOME` is added once the user is known
/// (inside the container, see [`crate::user`]).
pub fn environment(image_env: &[String], overrides: &[String], hostname: &str) -> Vec<String> {
    let mut env: Vec<(String, String)> = Vec::new();
    let mut set = |key: &str, value: String| match env.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = value,
        None => env.push((key.to_string(), value)),
    };
    for e in image_env {
        let (k, v) = e.split_once('=').unwrap_or((e, ""));
        set(k, v.to_string());
    }
    for e in overrides {
        match e.split_once('=') {
            Some((k, v)) => set(k, v.to_string()),
            None => {
                if let Ok(v) = std::env::var(e) {
                    set(e, v);
                }
            }
        }
    }
    if !env.iter().any(|(k, _)| k == "PATH") {
        env.insert(0, ("PATH".into(), DEFAULT_PATH.into()));
    }
    if !env.iter().any(|(k, _)| k == "HOSTNAME") {
        env.push(("HOSTNAME".into(), hostname.into()));
    }
    env.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// Looks up `name` in a `KEY=VALUE` list.
pub fn env_get<'a>(env: &'a [String], name: &str) -> Option<&'a str> {
    env.iter()
        .filter_map(|e| e.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The process of a new container from the run's options.
pub fn process(opts: &RunOptions, hostname: &str) -> Result<ProcessSpec> {
    let image = &opts.image_config;
    let cwd = opts
        .workdir
        .clone()
        .or_else(|| image.working_dir.clone())
        .unwrap_or_else(|| "/".into());
    if !cwd.starts_with('/') {
        return Err(Error::invalid(
            "working directory",
            cwd,
            "it must be an absolute path",
        ));
    }
    let mut env = environment(&image.env, &opts.env, hostname);
    // Docker's default for a terminal.
    if opts.tty && env_get(&env, "TERM").is_none() {
        env.push("TERM=xterm".into());
    }
    Ok(ProcessSpec {
        args: command(image, opts.entrypoint.as_deref(), &opts.args)?,
        env,
        cwd,
        user: opts
            .user
            .clone()
            .or_else(|| image.user.clone())
            .unwrap_or_default(),
        stdin: opts.interactive,
        tty: opts.tty,
        no_new_privileges: opts.no_new_privileges,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn image(entry: Option<&[&str]>, cmd: Option<&[&str]>) -> ImageConfig {
        ImageConfig {
            entrypoint: entry.map(v),
            cmd: cmd.map(v),
            ..Default::default()
        }
    }

    #[test]
    fn args_replace_cmd_and_keep_entrypoint() {
        let img = image(Some(&["/bin/echo", "a"]), Some(&["b"]));
        assert_eq!(
            command(&img, None, &[]).unwrap(),
            v(&["/bin/echo", "a", "b"])
        );
        assert_eq!(
            command(&img, None, &v(&["c"])).unwrap(),
            v(&["/bin/echo", "a", "c"])
        );
    }

    #[test]
    fn entrypoint_override_clears_cmd() {
        let img = image(Some(&["/bin/echo"]), Some(&["b"]));
        assert_eq!(
            command(&img, Some("/bin/true"), &[]).unwrap(),
            v(&["/bin/true"])
        );
        assert_eq!(
            command(&img, Some("/bin/ls"), &v(&["-l"])).unwrap(),
            v(&["/bin/ls", "-l"])
        );
        assert_eq!(command(&img, Some(""), &v(&["id"])).unwrap(), v(&["id"]));
        assert!(matches!(
            command(&img, Some(""), &[]),
            Err(Error::NoCommand)
        ));
    }

    #[test]
    fn shell_form_cmd_runs_through_sh() {
        let img = ImageConfig {
            cmd: Some(shell_form("echo $HOME")),
            ..Default::default()
        };
        assert_eq!(
            command(&img, None, &[]).unwrap(),
            v(&["/bin/sh", "-c", "echo $HOME"])
        );
        assert!(matches!(
            command(&ImageConfig::default(), None, &[]),
            Err(Error::NoCommand)
        ));
    }

    #[test]
    fn env_overrides_by_key_and_adds_defaults() {
        let env = environment(&v(&["A=1", "B=2"]), &v(&["B=3", "C=x=y"]), "h1");
        assert_eq!(env[0], format!("PATH={DEFAULT_PATH}"));
        assert_eq!(&env[1..], &v(&["A=1", "B=3", "C=x=y", "HOSTNAME=h1"])[..]);
        let env = environment(&v(&["PATH=/x"]), &v(&["STRATA_SURELY_UNSET_VAR"]), "h");
        assert_eq!(env, v(&["PATH=/x", "HOSTNAME=h"]));
        assert_eq!(env_get(&env, "PATH"), Some("/x"));
    }

    #[test]
    fn relative_workdir_is_refused() {
        let opts = RunOptions {
            workdir: Some("tmp".into()),
            args: v(&["true"]),
            ..Default::default()
        };
        assert!(matches!(process(&opts, "h"), Err(Error::Invalid { .. })));
    }
}
