# bash completion for acdctl
_acdctl() {
  local cur prev words cword
  _init_completion 2>/dev/null || { cur=${COMP_WORDS[COMP_CWORD]}; prev=${COMP_WORDS[COMP_CWORD-1]}; words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD; }
  local commands="status agents queues calls stats route top config ha dr surge service agent client key audit report"
  case "${words[1]}" in
    agents) [ "$cword" = 2 ] && COMPREPLY=($(compgen -W "list show ready logout unlock revoke-tokens" -- "$cur")); return ;;
    queues|calls) [ "$cword" = 2 ] && COMPREPLY=($(compgen -W "list show" -- "$cur")); return ;;
    stats) [ "$cword" = 2 ] && COMPREPLY=($(compgen -W "agents queues" -- "$cur")); return ;;
    config) [ "$cword" = 2 ] && COMPREPLY=($(compgen -W "validate diff reload" -- "$cur")) || COMPREPLY=($(compgen -f -W "--dry-run" -- "$cur")); return ;;
    route) [ "$cword" = 2 ] && COMPREPLY=($(compgen -W "test" -- "$cur")) ||
             COMPREPLY=($(compgen -W "--priority --tier --verification --language --skill --call" -- "$cur")); return ;;
    agent) [ "$cword" = 2 ] && COMPREPLY=($(compgen -W "passwd import" -- "$cur")); return ;;
    audit) [ "$cword" = 2 ] && COMPREPLY=($(compgen -W "show verify" -- "$cur")) ||
             COMPREPLY=($(compgen -W "--since --last --dir --config" -- "$cur")); return ;;
    report) [ "$cword" = 2 ] && COMPREPLY=($(compgen -W "intervals agents queues calls call" -- "$cur")) ||
             COMPREPLY=($(compgen -W "--from --to --queue --agent --csv --json --config --db" -- "$cur")); return ;;
    top) COMPREPLY=($(compgen -W "--interval --count" -- "$cur")); return ;;
    ha) [ "$cword" = 2 ] && COMPREPLY=($(compgen -W "status switchover" -- "$cur")); return ;;
    surge) [ "$cword" = 2 ] && COMPREPLY=($(compgen -W "status enter exit auto" -- "$cur")) ||
             COMPREPLY=($(compgen -W "--queue" -- "$cur")); return ;;
    service) [ "$cword" = 2 ] && COMPREPLY=($(compgen -W "status down up" -- "$cur")); return ;;
    dr) [ "$cword" = 2 ] && COMPREPLY=($(compgen -W "status history failover switchover switchback drill" -- "$cur")); return ;;
    client)
      if [ "$cword" = 2 ]; then
        COMPREPLY=($(compgen -W "list add" -- "$cur"))
      elif [ "$prev" = --role ]; then
        COMPREPLY=($(compgen -W "switch desktop supervisor site" -- "$cur"))
      elif [ "$prev" = --keys-dir ]; then
        COMPREPLY=($(compgen -d -- "$cur"))
      elif [ "$prev" = --config ]; then
        COMPREPLY=($(compgen -f -- "$cur"))
      elif [ "${words[2]}" = add ]; then
        COMPREPLY=($(compgen -W "--role --network --keys-dir --config" -- "$cur"))
      fi
      return ;;
    key)
      if [ "$cword" = 2 ]; then
        COMPREPLY=($(compgen -W "generate" -- "$cur"))
      elif [ "$prev" = --out ]; then
        COMPREPLY=($(compgen -f -- "$cur"))
      else
        COMPREPLY=($(compgen -W "--out" -- "$cur"))
      fi
      return ;;
  esac
  COMPREPLY=($(compgen -W "$commands --socket --json --help" -- "$cur"))
}
complete -F _acdctl acdctl
