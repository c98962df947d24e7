#!/bin/sh
# Recipe: a signed GET with curl. Usage (the key from the environment, never an argument):
#   CCL_KEY=0x... CCL_API_URL=http://127.0.0.1:8700 sh curl.sh PATH [QUERY]
set -eu
here=$(dirname "$0")
path=$1
query=${2:-}
signed=$(mktemp)
headers=$(mktemp)
trap 'rm -f "$signed" "$headers"' EXIT
python3 "$here/ccl_headers.py" GET "$path" "$query" > "$signed"
canonical=$(head -n 1 "$signed")
tail -n +2 "$signed" > "$headers"
# Send the query in its canonical form: the signature covers exactly that.
curl --silent --show-error --header @"$headers" \
  "${CCL_API_URL:-http://127.0.0.1:8700}${path}${canonical:+?$canonical}"
