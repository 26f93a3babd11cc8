//! Instance names in bash completion. clap_complete's bash script is static:
//! it completes commands and options, never values only known when it runs.
//! This function, added after it in `debian/completions/websockifyctl`, puts
//! the `NAME.conf` files of `--conf-dir` (else /etc/websockify) in front of
//! it for the NAME of every command that takes an existing instance, and
//! leaves everything else to clap's function.

use clap::CommandFactory;

use super::Ctl;

/// The bash text to append to clap_complete's script for websockifyctl.
pub fn bash_instance_names() -> String {
    let commands = commands_taking_an_instance().join("|");
    BASH.replace("COMMANDS", &commands)
}

/// The commands whose first argument is an existing instance (`add` makes
/// a new one).
fn commands_taking_an_instance() -> Vec<String> {
    Ctl::command()
        .get_subcommands()
        .filter(|c| c.get_name() != "add")
        .filter(|c| {
            c.get_positionals()
                .next()
                .is_some_and(|a| a.get_id() == "name")
        })
        .map(|c| c.get_name().to_owned())
        .collect()
}

const BASH: &str = r#"
# Instance names (added to clap_complete's script by src/ctl/completion.rs):
# the NAME.conf files of --conf-dir, else /etc/websockify, as the first
# argument of a command that takes an instance; clap's function otherwise.
_websockifyctl_instances() {
    local cur="${COMP_WORDS[COMP_CWORD]}" dir=/etc/websockify cmd="" i f
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${COMP_WORDS[i]}" in
            --conf-dir) dir="${COMP_WORDS[i + 1]}"; ((i++)) ;;
            --conf-dir=*) dir="${COMP_WORDS[i]#--conf-dir=}" ;;
            -*) ;;
            *) if [[ -z $cmd ]]; then cmd="${COMP_WORDS[i]}"; else cmd=""; break; fi ;;
        esac
    done
    case "$cmd" in
        COMMANDS)
            if [[ $cur != -* ]]; then
                local names=()
                for f in "$dir"/*.conf; do
                    [[ -f $f ]] || continue
                    f="${f##*/}"
                    names+=("${f%.conf}")
                done
                COMPREPLY=($(compgen -W "${names[*]}" -- "$cur"))
                return 0
            fi
            ;;
    esac
    _websockifyctl "$@"
}
complete -F _websockifyctl_instances -o bashdefault -o default websockifyctl
"#;
