#!/usr/bin/env bash
# npm run demo — the whole flow on the bundled sample dump: scan → init → check → run → scan the output.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -f dist/cli.js ]] || npm run build >/dev/null
BIN=./bin/anonymise-dump.js
SAMPLE=fixtures/sample/sample.sql
WORK=$(mktemp -d /tmp/anonymise-dump-demo.XXXXXX)
export ANONYMISE_DUMP_SECRET=${ANONYMISE_DUMP_SECRET:-demo-key-NOT-for-real-use-7f3a9c}
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

step "anonymise-dump scan $SAMPLE            # what personal data is in the dump?"
$BIN scan "$SAMPLE"

step "anonymise-dump init $SAMPLE > draft.yaml   # a draft rules file, every table and column"
$BIN init "$SAMPLE" > "$WORK/draft.yaml"
sed -n '1,6p;/public.users_user:/,/date_joined/p' "$WORK/draft.yaml" | cut -c1-150
echo "  … ($(grep -c '' "$WORK/draft.yaml") lines in $WORK/draft.yaml)"

step "anonymise-dump check -r rules/examples/council.yaml $SAMPLE   # do the council's rules cover it?"
$BIN check -r rules/examples/council.yaml "$SAMPLE"

step "anonymise-dump -r rules/examples/council.yaml -o safe.sql $SAMPLE"
$BIN -r rules/examples/council.yaml -o "$WORK/safe.sql" "$SAMPLE"

step "anonymise-dump scan safe.sql --fail-on-pii email,ip   # the gate a pipeline runs before the dump leaves"
$BIN scan "$WORK/safe.sql" --fail-on-pii email,ip
echo "exit status $? — the output holds no e-mail address or IP (the council's own phone number and venue postcodes are public)"
echo
echo "files in $WORK"
