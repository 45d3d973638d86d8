//! Shell completions (`kafka-mesos completions bash|zsh|fish`), generated from the same
//! command table the parser and the help read.

use clap::{Arg, ArgAction, Command};
use clap_complete::Shell;

use super::spec::{API, BROKER_COMMANDS, CmdSpec, OptSpec, SCHEDULER_OPTIONS, TOPIC_COMMANDS};

fn arg(o: &OptSpec) -> Arg {
    let a = Arg::new(o.name).long(o.name).help(o.help[0]);
    if o.flag {
        a.action(ArgAction::SetTrue)
    } else {
        a.num_args(1)
    }
}

fn group(name: &'static str, about: &'static str, commands: &[CmdSpec]) -> Command {
    commands
        .iter()
        .fold(Command::new(name).about(about), |group, c| {
            let sub = c
                .options
                .iter()
                .chain(std::iter::once(&API))
                .fold(Command::new(c.name).about(c.summary), |cmd, o| {
                    cmd.arg(arg(o))
                })
                .arg(Arg::new("expr").num_args(0..=1));
            group.subcommand(sub)
        })
}

/// The whole command line as a clap command, for completion generators. `extra` adds
/// subcommands defined elsewhere (`local-master`).
pub fn command(extra: impl IntoIterator<Item = Command>) -> Command {
    let scheduler = SCHEDULER_OPTIONS
        .iter()
        .fold(
            Command::new("scheduler").about("start scheduler"),
            |c, o| c.arg(arg(o)),
        )
        .arg(Arg::new("config").num_args(0..=1));
    let help = Command::new("help")
        .about("print general or command-specific help")
        .arg(Arg::new("command").num_args(0..=2));
    let completions = Command::new("completions")
        .about("print shell completions")
        .arg(
            Arg::new("shell")
                .value_parser(["bash", "zsh", "fish"])
                .required(true),
        );
    Command::new("kafka-mesos")
        .disable_help_subcommand(true)
        .subcommand(help)
        .subcommand(scheduler)
        .subcommand(group(
            "broker",
            "broker management commands",
            BROKER_COMMANDS,
        ))
        .subcommand(group("topic", "topic management commands", TOPIC_COMMANDS))
        .subcommand(completions)
        .subcommands(extra)
}

/// The completion script for `shell` (`bash`, `zsh` or `fish`).
pub fn script(shell: &str, extra: impl IntoIterator<Item = Command>) -> Result<String, String> {
    let shell = match shell {
        "bash" => Shell::Bash,
        "zsh" => Shell::Zsh,
        "fish" => Shell::Fish,
        other => {
            return Err(format!(
                "unsupported shell {other:?}; expected bash, zsh or fish"
            ));
        }
    };
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command(extra), "kafka-mesos", &mut out);
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_name_the_commands_and_options() {
        for shell in ["bash", "zsh", "fish"] {
            let s = script(shell, []).unwrap();
            assert!(s.contains("failover-max-delay"), "{shell}");
            assert!(s.contains("rebalance"), "{shell}");
        }
        assert!(script("tcsh", []).unwrap_err().contains("tcsh"));
    }
}
