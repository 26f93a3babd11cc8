//! Tests of the two spellings of the options: conf files (`options.rs`:
//! where a key was set, overrides, masked secrets) and the command line
//! (`cli.rs`: every conf key a long option, the defaults `--help` shows).

mod options {
    use std::path::Path;

    use crate::config::options::*;

    #[test]
    fn debug_masks_secrets() {
        let o = Options {
            auth_source: Some("alice:hunter2".into()),
            token_source: Some("redis.example:6379:0:s3cret".into()),
            target: Some("localhost:5901".into()),
            ..Default::default()
        };
        let shown = format!("{o:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("s3cret"),
            "{shown}"
        );
        assert!(
            shown.contains("localhost:5901") && shown.contains("<redacted>"),
            "{shown}"
        );
    }

    fn conf(text: &str) -> Result<ConfFile, ConfError> {
        ConfFile::parse(Path::new("/etc/websockify/t.conf"), text.to_owned())
    }

    #[test]
    fn keys_lines_and_overrides() {
        let c =
            conf("# display 1\nlisten = \"6080\"\n\ntarget = \"localhost:5901\"\nheartbeat = 30\n")
                .unwrap();
        assert_eq!(c.line_of("target"), Some(4));
        let cli = Options {
            heartbeat: Some(5),
            ..Options::default()
        };
        let m = Merged::new(Some(c), cli);
        assert_eq!(m.options.heartbeat, Some(5));
        assert_eq!(m.options.target.as_deref(), Some("localhost:5901"));
        assert_eq!(m.origin("heartbeat"), Origin::CommandLine);
        assert_eq!(m.origin("target").to_string(), "/etc/websockify/t.conf:4");
        assert_eq!(m.origin("web"), Origin::Default);
    }

    #[test]
    fn unknown_key_and_wrong_type_name_the_line_and_key() {
        let e = conf("target = \"x:1\"\ntraget = 3\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("t.conf:2: ") && e.contains("traget"), "{e}");
        let e = conf("heartbeat = \"20\"\n").unwrap_err().to_string();
        assert!(e.contains("t.conf:1: ") && e.contains("heartbeat"), "{e}");
    }

    /// serde's field names, `KEYS` and `is_set` come from one macro list;
    /// this checks each key parses (with a value of some type) and is seen.
    #[test]
    fn every_key_is_known_to_is_set() {
        for key in KEYS {
            let parsed = ["\"x:1\"", "true", "1", "{}"]
                .iter()
                .find_map(|v| conf(&format!("{key} = {v}\n")).ok());
            let c = parsed.unwrap_or_else(|| panic!("{key} accepts no value"));
            assert!(c.options.is_set(key), "{key}");
            assert_eq!(c.line_of(key), Some(1), "{key}");
        }
    }
}

/// The words of a value of the wrong type: what the key takes, with an
/// example that the key does take.
mod kinds {
    use std::path::Path;

    use crate::config::bounds::Unit;
    use crate::config::options::*;

    fn error(text: &str) -> String {
        let path = Path::new("/etc/websockify/t.conf");
        ConfFile::parse(path, text.to_owned())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn every_example_is_a_value_its_key_takes() {
        for key in KEYS {
            let example = expected(key).unwrap().example;
            let text = match example.strip_suffix(" with target = \"localhost:5901\"") {
                Some(table) => format!("{table}\ntarget = \"localhost:5901\"\n"),
                None => format!("{key} = {example}\n"),
            };
            let path = Path::new("/etc/websockify/t.conf");
            let c = ConfFile::parse(path, text.clone()).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert!(c.options.is_set(key), "{text}");
        }
    }

    /// "a number of seconds" is said of every `u64` key: each must be a duration.
    #[test]
    fn numbers_of_seconds_are_durations() {
        for key in KEYS {
            let seconds = expected(key).unwrap().what == "a number of seconds";
            let range = spec(key).and_then(|s| s.range);
            let is_duration = range.is_some_and(|r| r.unit == Unit::Seconds);
            assert_eq!(seconds, is_duration, "{key}");
        }
    }

    #[test]
    fn wrong_types_are_said_in_the_admins_terms() {
        assert_eq!(
            error("target = \"localhost:5901\"\nlisten = 7014\n"),
            "/etc/websockify/t.conf:2: listen: expected a string or a list of strings, \
             such as listen = \"6080\" (in `listen = 7014`)"
        );
        assert_eq!(
            error("heartbeat = \"20s\"\n"),
            "/etc/websockify/t.conf:1: heartbeat: expected a number of seconds, \
             such as heartbeat = 20 (in `heartbeat = \"20s\"`)"
        );
        assert_eq!(
            error("ssl-only = \"yes\"\n"),
            "/etc/websockify/t.conf:1: ssl-only: expected true or false, \
             such as ssl-only = true (in `ssl-only = \"yes\"`)"
        );
        assert_eq!(
            error("users = 1\n"),
            "/etc/websockify/t.conf:1: users: expected a table per user, \
             such as [users.alice] with target = \"localhost:5901\" (in `users = 1`)"
        );
        // A secret key's value stays hidden.
        assert_eq!(
            error("auth-source = 5318008\n"),
            "/etc/websockify/t.conf:1: auth-source: expected a string in quotes, such as \
             auth-source = \"user:password\" (in `auth-source = ...`: the value is not shown)"
        );
    }
}

mod cli {
    use clap::{CommandFactory, Parser};

    use crate::config::cli::*;
    use crate::config::options::OneOrMany;
    use crate::defaults;

    /// Every conf key is a long option and every long option a conf key (but
    /// the command-only ones), so the two spellings cannot drift apart.
    #[test]
    fn conf_keys_and_long_options_match() {
        let cmd = Cli::command();
        let longs: Vec<String> = cmd
            .get_arguments()
            .filter_map(|a| a.get_long().map(str::to_owned))
            .collect();
        // Tables have no command-line form.
        let positional_or_tables = ["listen", "target", "users"];
        for key in crate::config::options::KEYS {
            let known = positional_or_tables.contains(key) || longs.iter().any(|l| l == key);
            assert!(known, "conf key {key} has no --{key}");
        }
        for long in &longs {
            let command_only = [
                "config",
                "check",
                "help",
                "version",
                "generate-cert",
                "cert-name",
            ];
            assert!(
                command_only.contains(&long.as_str())
                    || crate::config::options::KEYS.contains(&long.as_str()),
                "--{long} has no conf key"
            );
        }
    }

    /// `--help` shows each default from the option's `Spec`, which takes
    /// the constants of `defaults` (so the two cannot drift apart), and
    /// parses what it shows.
    #[test]
    fn help_shows_the_defaults_the_server_uses() {
        let cmd = Cli::command();
        let expect = [
            ("heartbeat", defaults::HEARTBEAT_SECS.to_string()),
            (
                "handshake-timeout",
                defaults::HANDSHAKE_TIMEOUT.as_secs().to_string(),
            ),
            ("max-message-size", "no limit".to_owned()),
            ("max-header-size", defaults::MAX_HEADER_SIZE.to_string()),
            ("record-max-size", "268435456 bytes (256 MiB)".to_owned()),
        ];
        for (id, default) in expect {
            let arg = cmd.get_arguments().find(|a| a.get_id() == id).unwrap();
            let help = arg.get_help().unwrap().to_string();
            assert!(
                help.ends_with(&format!("[default: {default}]")),
                "{id}: {help}"
            );
        }
    }

    /// Values given on the command line arrive as the conf file's would:
    /// flags as `true`, numbers parsed, a repeated option as a list.
    #[test]
    fn the_command_line_fills_the_options() {
        let cli = Cli::try_parse_from([
            "websockify",
            "-v",
            "--heartbeat",
            "7",
            "--metrics-listen",
            "127.0.0.1:9180",
            "--metrics-listen",
            "/run/m.sock",
            "--record-max-age",
            "3",
            "6080",
            "localhost:5901",
        ])
        .unwrap();
        let o = cli.options();
        assert_eq!(o.verbose, Some(true));
        assert_eq!(o.ssl_only, None);
        assert_eq!(o.heartbeat, Some(7));
        assert_eq!(o.number("record-max-age"), Some(3));
        assert_eq!(
            o.metrics_listen.map(OneOrMany::into_vec),
            Some(vec!["127.0.0.1:9180".to_owned(), "/run/m.sock".to_owned()])
        );
        assert_eq!(o.listen, Some(OneOrMany::One("6080".into())));
        assert_eq!(o.target.as_deref(), Some("localhost:5901"));
        assert!(Cli::try_parse_from(["websockify", "--heartbeat", "x"]).is_err());
    }
}
