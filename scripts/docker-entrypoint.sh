#!/bin/sh
# Container entrypoint. `serve` (the default) runs the collector with the data
# directory and web address from WVNR_DATA / WVNR_WEB and a config file from
# /etc/wvnr/wvnr.toml when one is mounted; flags after `serve` pass through.
# Any other wvnr subcommand (query, status, profile, ...) runs as given, and a
# command that is not a wvnr subcommand (sh, ...) runs as is.
set -eu

data="${WVNR_DATA:-/var/lib/wvnr}"
web="${WVNR_WEB:-0.0.0.0:80}"
config="${WVNR_CONFIG:-/etc/wvnr/wvnr.toml}"
# wvnr reads WVNR_CONFIG itself; pass the file only when it exists (no file = defaults).
unset WVNR_CONFIG

if [ $# -eq 0 ]; then set -- serve; fi
case "$1" in
    -*) set -- serve "$@" ;;
esac

case "$1" in
    serve)
        shift
        if [ -f "$config" ]; then set -- --config "$config" "$@"; fi
        exec wvnr serve --data "$data" --web "$web" --listen 0.0.0.0 "$@"
        ;;
    demo|gen|query|decode|ingest|profile|status|help)
        sub="$1"; shift
        case "$sub" in
            query|profile) exec wvnr "$sub" --data "$data" "$@" ;;
            *) exec wvnr "$sub" "$@" ;;
        esac
        ;;
    *)
        exec "$@"
        ;;
esac
