//! Go/pflag-style command-line parsing: `--name=value`, `--name value`, bare booleans or
//! `--flag=true|false`, repeatable comma-separated lists, `-v=4`/`-v 4`, `-l sel`.
//!
//! clap does the tokenising; values stay strings here and are converted in `super::Reader`, so
//! that one run reports every bad flag at once instead of stopping at the first.

use std::collections::HashMap;
use std::ffi::OsString;

use clap::{Arg, ArgAction, Command};

use super::spec::{FLAGS, Kind, Section};

/// The raw values given on the command line, by flag name (absent when not given).
#[derive(Debug, Default)]
pub struct RawFlags {
    values: HashMap<&'static str, Vec<String>>,
}

/// Why parsing did not produce flags.
#[derive(Debug)]
pub enum ParseOutcome {
    /// `-h`/`--help`: print this and exit 0.
    Help(String),
    /// Every problem found; exit 2.
    Errors(Vec<String>),
}

impl RawFlags {
    /// Values given for `name`, in command-line order.
    pub fn get(&self, name: &str) -> Option<&[String]> {
        self.values.get(name).map(Vec::as_slice)
    }

    #[cfg(test)]
    pub fn from_pairs(pairs: &[(&'static str, &str)]) -> RawFlags {
        let mut raw = RawFlags::default();
        for (name, value) in pairs {
            raw.values
                .entry(name)
                .or_default()
                .push((*value).to_string());
        }
        raw
    }

    pub fn parse<I, T>(args: I) -> Result<RawFlags, ParseOutcome>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        let unknown = unknown_flags(&args);
        if !unknown.is_empty() {
            return Err(ParseOutcome::Errors(unknown));
        }
        let mut command = command();
        let matches = match command.try_get_matches_from_mut(&args) {
            Ok(matches) => matches,
            Err(error) if error.kind() == clap::error::ErrorKind::DisplayHelp => {
                return Err(ParseOutcome::Help(command.render_help().to_string()));
            }
            Err(error) => {
                let message = error.render().to_string();
                let first_line = message
                    .lines()
                    .next()
                    .unwrap_or("invalid arguments")
                    .trim_start_matches("error: ");
                return Err(ParseOutcome::Errors(vec![first_line.to_string()]));
            }
        };
        let mut raw = RawFlags::default();
        for spec in FLAGS {
            if matches.value_source(spec.name) == Some(clap::parser::ValueSource::CommandLine)
                && let Some(values) = matches.get_many::<String>(spec.name)
            {
                raw.values.insert(spec.name, values.cloned().collect());
            }
        }
        Ok(raw)
    }
}

/// The clap command for every flag in the table, with sections as help headings.
pub fn command() -> Command {
    let mut command = Command::new("metrics-server")
        .before_help("Launch metrics-server")
        .override_usage("metrics-server [flags]")
        .disable_version_flag(true)
        .disable_help_subcommand(true)
        .max_term_width(120);
    for section in Section::ALL {
        for spec in FLAGS.iter().filter(|spec| spec.section == section) {
            let mut help = spec.help.to_string();
            if !spec.default.is_empty() {
                help.push_str(&format!(
                    " (default {})",
                    display_default(spec.kind, spec.default)
                ));
            }
            let mut arg = Arg::new(spec.name)
                .long(spec.name)
                .help(help)
                .help_heading(section.title());
            if let Some(short) = spec.short {
                arg = arg.short(short);
            }
            arg = match spec.kind {
                // pflag booleans take no separate value: `--flag false` would not mean false.
                Kind::Bool => arg
                    .num_args(0..=1)
                    .require_equals(true)
                    .default_missing_value("true")
                    .action(ArgAction::Append)
                    .value_name("bool")
                    .hide_possible_values(true),
                Kind::Strings => arg
                    .num_args(1)
                    .action(ArgAction::Append)
                    .value_name(spec.kind.type_name()),
                kind => arg
                    .num_args(1)
                    .action(ArgAction::Append)
                    .allow_hyphen_values(true)
                    .value_name(kind.type_name()),
            };
            command = command.arg(arg);
        }
    }
    command
}

fn display_default(kind: Kind, default: &str) -> String {
    match kind {
        Kind::Strings => format!("[{default}]"),
        Kind::String => format!("\"{default}\""),
        _ => default.to_string(),
    }
}

/// Every `--name` (or `-x`) that is not a known flag, as pflag would report it.
fn unknown_flags(args: &[OsString]) -> Vec<String> {
    let mut unknown = Vec::new();
    for arg in args.iter().skip(1) {
        let Some(arg) = arg.to_str() else { continue };
        if arg == "--" {
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let name = long.split('=').next().unwrap_or(long);
            if name != "help" && super::spec::find(name).is_none() {
                unknown.push(format!("unknown flag: --{name}"));
            }
        } else if let Some(short) = arg.strip_prefix('-')
            && let Some(letter) = short.chars().next()
            && !FLAGS.iter().any(|spec| spec.short == Some(letter))
            && letter != 'h'
        {
            unknown.push(format!("unknown shorthand flag: '{letter}' in {arg}"));
        }
    }
    unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<RawFlags, ParseOutcome> {
        RawFlags::parse(std::iter::once("metrics-server").chain(args.iter().copied()))
    }

    #[test]
    fn go_style_forms_are_accepted() {
        let raw = parse(&[
            "--kubelet-insecure-tls",
            "--kubelet-use-node-status-port=false",
            "--metric-resolution=15s",
            "--cert-dir",
            "/tmp",
            "-v=4",
            "-l",
            "role!=edge",
            "--kubelet-preferred-address-types=InternalIP,ExternalIP",
            "--kubelet-preferred-address-types=Hostname",
        ])
        .unwrap();
        assert_eq!(raw.get("kubelet-insecure-tls").unwrap(), ["true"]);
        assert_eq!(raw.get("kubelet-use-node-status-port").unwrap(), ["false"]);
        assert_eq!(raw.get("metric-resolution").unwrap(), ["15s"]);
        assert_eq!(raw.get("cert-dir").unwrap(), ["/tmp"]);
        assert_eq!(raw.get("v").unwrap(), ["4"]);
        assert_eq!(raw.get("node-selector").unwrap(), ["role!=edge"]);
        assert_eq!(
            raw.get("kubelet-preferred-address-types").unwrap(),
            ["InternalIP,ExternalIP", "Hostname"]
        );
        assert!(
            raw.get("kubelet-port").is_none(),
            "defaults are not values given"
        );
    }

    #[test]
    fn every_unknown_flag_is_named() {
        let Err(ParseOutcome::Errors(errors)) =
            parse(&["--nope", "--metric-resolution=1m", "--also-nope=1", "-x"])
        else {
            panic!("expected errors")
        };
        assert_eq!(
            errors,
            [
                "unknown flag: --nope",
                "unknown flag: --also-nope",
                "unknown shorthand flag: 'x' in -x"
            ]
        );
    }

    #[test]
    fn help_lists_every_section_in_upstream_order() {
        let Err(ParseOutcome::Help(help)) = parse(&["--help"]) else {
            panic!("expected help")
        };
        assert!(help.starts_with("Launch metrics-server"));
        let positions: Vec<_> = Section::ALL
            .iter()
            .map(|s| help.find(s.title()).unwrap())
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
        assert!(help.contains("--kubelet-port <int>"));
        assert!(help.contains("(default 10250)"));
    }

    #[test]
    fn a_flag_missing_its_value_is_an_error() {
        assert!(matches!(
            parse(&["--kubeconfig"]),
            Err(ParseOutcome::Errors(_))
        ));
    }
}
