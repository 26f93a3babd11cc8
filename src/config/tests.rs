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

mod cli {
    use clap::CommandFactory;

    use crate::config::cli::*;
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

    /// The defaults shown in --help are written by hand (a clap default would
    /// hide whether the conf file set the value): they must match `limits`.
    #[test]
    fn help_defaults_match_the_limits() {
        let cmd = Cli::command();
        let expect = [
            ("heartbeat", defaults::HEARTBEAT_SECS.to_string()),
            (
                "handshake_timeout",
                defaults::HANDSHAKE_TIMEOUT.as_secs().to_string(),
            ),
            (
                "connect_timeout",
                defaults::CONNECT_TIMEOUT.as_secs().to_string(),
            ),
            ("max_message_size", "no limit".to_owned()),
            ("max_header_size", defaults::MAX_HEADER_SIZE.to_string()),
            (
                "max_connections_per_client",
                defaults::MAX_CONNECTIONS_PER_CLIENT.to_string(),
            ),
            (
                "shutdown_grace",
                defaults::SHUTDOWN_GRACE.as_secs().to_string(),
            ),
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
}
