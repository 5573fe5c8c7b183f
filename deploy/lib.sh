# shellcheck shell=bash
# What the deploy scripts share; sourced, never run. Each script finds it beside itself, so it
# works from any directory (and in Cloud Build, which uploads deploy/ whole):
#
#   HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
#   # shellcheck source-path=SCRIPTDIR source=lib.sh
#   source "$HERE/lib.sh"
#
# It defines DRY_RUN (from the environment, default 0; `--dry-run` sets it to 1), PROG (the
# prefix of error lines: the script's file name; a script may set its own) and:
#   run CMD ARGS...   print the command shell-quoted (dry run: it can be pasted as is), or run it
#   die MESSAGE...    "PROG: MESSAGE" on stderr, exit code 2
#   usage             the script's header comment (from line 2 to the first line not a comment)
#   check_project     PROJECT_ID is set and has a Google Cloud project id's shape, or die

DRY_RUN="${DRY_RUN:-0}"
PROG="$(basename "$0")"

usage() { awk 'NR == 1 { next } !/^#/ { exit } { sub(/^# ?/, ""); print }' "$0"; }

die() {
    echo "$PROG: $*" >&2
    exit 2
}

run() {
    if [[ "$DRY_RUN" == 1 ]]; then
        local out="" a
        for a in "$@"; do out+="$(printf '%q' "$a") "; done
        echo "${out% }"
    else
        "$@"
    fi
}

check_project() {
    [[ -n "${PROJECT_ID:-}" ]] || die "no project: give --project ID or set PROJECT_ID"
    [[ "$PROJECT_ID" =~ ^[a-z][a-z0-9-]{4,28}[a-z0-9]$ ]] || die "invalid project id '$PROJECT_ID'"
}
