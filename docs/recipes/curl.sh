#!/bin/sh
# Recipe: a signed request with curl; a GET, or a POST of a JSON body file. Usage (the key from
# the environment, never an argument):
#   CCL_KEY=0x... CCL_API_URL=http://127.0.0.1:8700 sh curl.sh PATH [QUERY [BODY_FILE]]
set -eu
here=$(dirname "$0")
path=$1
query=${2:-}
body=${3:-}
signed=$(mktemp)
headers=$(mktemp)
trap 'rm -f "$signed" "$headers"' EXIT
url_of() { echo "${CCL_API_URL:-http://127.0.0.1:8700}${path}${1:+?$1}"; }
if [ -n "$body" ]; then
  python3 "$here/ccl_headers.py" POST "$path" "$query" "$body" > "$signed"
else
  python3 "$here/ccl_headers.py" GET "$path" "$query" > "$signed"
fi
canonical=$(head -n 1 "$signed")  # send the query in this form: the signature covers it
tail -n +2 "$signed" > "$headers"
if [ -n "$body" ]; then
  # --data-binary sends the file's bytes unchanged (--data would strip newlines).
  curl --silent --show-error --header @"$headers" --header 'Content-Type: application/json' \
    --data-binary @"$body" "$(url_of "$canonical")"
else
  curl --silent --show-error --header @"$headers" "$(url_of "$canonical")"
fi
