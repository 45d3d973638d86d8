//! Command-line options in jopt-simple's manner: `--opt value`, `--opt=value`, unambiguous
//! prefixes (`--partition` for `--partitions`), flags without a value, one positional
//! argument.

use super::spec::{API, API_CA, API_TOKEN, CmdSpec, GENERIC, OptSpec, Positional};

/// The arguments of one `broker` or `topic` command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The positional argument (broker or topic expression).
    pub positional: Option<String>,
    /// `--api`, if given.
    pub api: Option<String>,
    /// `--api-token`, if given.
    pub api_token: Option<String>,
    /// `--api-ca`, if given.
    pub api_ca: Option<String>,
    /// Every other option given, with its value (`None` for a flag).
    pub options: Vec<(&'static OptSpec, Option<String>)>,
}

impl Parsed {
    /// True when the flag `name` was given.
    pub fn has_flag(&self, name: &str) -> bool {
        self.options.iter().any(|(o, _)| o.name == name)
    }

    /// The value of option `name`, if given.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(o, _)| o.name == name)
            .and_then(|(_, v)| v.as_deref())
    }
}

fn lookup(cmd: &'static CmdSpec, name: &str) -> Result<&'static OptSpec, String> {
    let all = || cmd.options.iter().chain(GENERIC);
    if let Some(o) = all().find(|o| o.name == name) {
        return Ok(o);
    }
    let matches: Vec<&'static OptSpec> = all().filter(|o| o.name.starts_with(name)).collect();
    match matches.as_slice() {
        [one] if !name.is_empty() => Ok(one),
        [] | [_] => Err(format!("{name} is not a recognized option")),
        many => Err(format!(
            "option {name} is ambiguous: {}",
            many.iter()
                .map(|o| format!("--{}", o.name))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Reads the arguments that follow `broker <cmd>` or `topic <cmd>`. The error is the message
/// printed after the command's help.
pub fn parse(cmd: &'static CmdSpec, args: &[String]) -> Result<Parsed, String> {
    let mut parsed = Parsed {
        positional: None,
        api: None,
        api_token: None,
        api_ca: None,
        options: Vec::new(),
    };
    let mut positionals = Vec::new();
    let mut rest = args.iter();
    let mut only_positionals = false;
    while let Some(arg) = rest.next() {
        let Some(body) = arg.strip_prefix("--").filter(|_| !only_positionals) else {
            positionals.push(arg.clone());
            continue;
        };
        if body.is_empty() {
            only_positionals = true;
            continue;
        }
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let spec = lookup(cmd, name)?;
        let value = if spec.flag {
            if inline.is_some() {
                return Err(format!("option --{} takes no argument", spec.name));
            }
            None
        } else {
            match inline {
                Some(v) => Some(v),
                None => Some(
                    rest.next()
                        .cloned()
                        .ok_or_else(|| format!("option --{} requires an argument", spec.name))?,
                ),
            }
        };
        let generic = match spec.name {
            n if n == API.name => Some(&mut parsed.api),
            n if n == API_TOKEN.name => Some(&mut parsed.api_token),
            n if n == API_CA.name => Some(&mut parsed.api_ca),
            _ => None,
        };
        let already = match &generic {
            Some(slot) => slot.is_some(),
            None => parsed.options.iter().any(|(o, _)| o.name == spec.name),
        };
        if already {
            return Err(format!("option --{} is given more than once", spec.name));
        }
        match generic {
            Some(slot) => *slot = value,
            None => parsed.options.push((spec, value)),
        }
    }
    match positionals.len() {
        0 if matches!(cmd.positional, Positional::Required(_)) => {
            return Err("argument required".into());
        }
        0 => {}
        1 => parsed.positional = positionals.pop(),
        _ => {
            return Err(format!(
                "unexpected argument {:?}; give one {} expression",
                positionals[1], cmd.group
            ));
        }
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::spec::group_commands;

    fn cmd(group: &str, name: &str) -> &'static CmdSpec {
        group_commands(group)
            .unwrap()
            .iter()
            .find(|c| c.name == name)
            .unwrap()
    }

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn both_value_forms_prefixes_and_flags() {
        let p = parse(
            cmd("broker", "update"),
            &args(&[
                "0",
                "--cpus=2",
                "--mem",
                "4096",
                "--opt",
                "",
                "--api",
                "http://h:7000",
            ]),
        )
        .unwrap();
        assert_eq!(p.positional.as_deref(), Some("0"));
        assert_eq!(p.value("cpus"), Some("2"));
        assert_eq!(p.value("mem"), Some("4096"));
        assert_eq!(p.value("options"), Some(""));
        assert_eq!(p.api.as_deref(), Some("http://h:7000"));
        let p = parse(
            cmd("broker", "list"),
            &args(&["--api-token", "t", "--api-ca=/ca.pem", "--api", "https://h"]),
        )
        .unwrap();
        assert_eq!(
            (
                p.api_token.as_deref(),
                p.api_ca.as_deref(),
                p.api.as_deref()
            ),
            (Some("t"), Some("/ca.pem"), Some("https://h"))
        );
        assert!(p.options.is_empty());
        let p = parse(cmd("broker", "stop"), &args(&["0", "--force"])).unwrap();
        assert!(p.has_flag("force"));
        let p = parse(cmd("topic", "add"), &args(&["t1", "--partition", "2"])).unwrap();
        assert_eq!(p.value("partitions"), Some("2"));
    }

    #[test]
    fn mistakes_are_named() {
        let update = cmd("broker", "update");
        assert_eq!(
            parse(update, &args(&["0", "--cpu"])).unwrap_err(),
            "option --cpus requires an argument"
        );
        assert_eq!(
            parse(update, &args(&["0", "--bogus", "1"])).unwrap_err(),
            "bogus is not a recognized option"
        );
        assert_eq!(
            parse(update, &args(&["0", "--failover", "1"])).unwrap_err(),
            "option failover is ambiguous: --failover-delay, --failover-max-delay, --failover-max-tries"
        );
        assert_eq!(
            parse(update, &args(&["--cpus", "1"])).unwrap_err(),
            "argument required"
        );
        assert_eq!(
            parse(update, &args(&["0", "--cpus", "1", "--cpus=2"])).unwrap_err(),
            "option --cpus is given more than once"
        );
        assert!(parse(cmd("broker", "list"), &[]).is_ok());
    }
}
