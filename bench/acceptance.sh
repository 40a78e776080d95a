#!/usr/bin/env bash
# The acceptance checks on the ../shared/bench corpus (SCALE=1 by default), as the issues state them:
#  - passthrough (unknown: keep) is byte-identical for the plain, --inserts and --column-inserts dumps;
#  - full rules: each form restores with ON_ERROR_STOP, kept tables equal the source, no source e-mail
#    appears anywhere in the output, users_user.email stays unique, two runs with one secret agree,
#    and the three forms give the same tables (the same pseudonyms);
#  - -Fc and -Fd -j 2 archives, full rules: pg_restore -j 2 restores them, every table equals the plain
#    path's, no source e-mail in them;
#  - the council example rules restore too.
# Usage: bench/acceptance.sh [SCALE]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export SCALE=${1:-1} ADBENCH_DIR=${ADBENCH_DIR:-/tmp/adbench}
SHARED=${SHARED_BENCH:-$ROOT/../shared/bench}
DUMPS=$ADBENCH_DIR/dumps/s$SCALE
[[ -s $DUMPS/column-inserts.sql ]] || "$SHARED/make-corpus.sh" >&2
eval "$("$SHARED/pg-up.sh" 2>/dev/null | head -n 1)"
SRC=$([[ $SCALE == 1 ]] && echo wagtail_like || echo "wagtail_like_s${SCALE//./_}")
npm run build >/dev/null
WORK=$ROOT/bench/work; mkdir -p "$WORK"
BIN="$ROOT/bin/anonymise-dump.js -q"
export ANONYMISE_DUMP_SECRET=acceptance-key-7f3a9c1e5b
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
q() { psql -X -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }
fingerprint() { q "$1" "SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM $2 t"; }

printf 'version: 1\nunknown: keep\n' > "$WORK/keep.yaml"
for form in plain inserts column-inserts; do
  $BIN -r "$WORK/keep.yaml" -o "$WORK/pass.sql" "$DUMPS/$form.sql"
  cmp -s "$WORK/pass.sql" "$DUMPS/$form.sql" || fail "passthrough of $form.sql is not byte-identical"
  ok "passthrough of $form.sql is byte-identical"
done

q "$SRC" "SELECT email FROM users_user UNION SELECT email FROM recruitment_jobalertsubscription UNION SELECT form_data->>'email' FROM wagtailforms_formsubmission" > "$WORK/emails.txt"
grep -ohE "[A-Za-z0-9._%+'-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}" "$DUMPS/plain.sql" | grep -vE '@example\.(com|org|net)$' | sort -u >> "$WORK/emails.txt"
sort -u -o "$WORK/emails.txt" "$WORK/emails.txt"
echo "source e-mail addresses to look for: $(wc -l < "$WORK/emails.txt")"

KEPT="wagtailcore_page wagtailcore_pagerevision django_content_type"
for form in plain inserts column-inserts; do
  out=$WORK/full-$form.sql
  $BIN -r bench/rules-full.yaml -o "$out" "$DUMPS/$form.sql"
  $BIN -r bench/rules-full.yaml -o "$WORK/again.sql" "$DUMPS/$form.sql"
  cmp -s "$out" "$WORK/again.sql" || fail "$form: two runs with the same secret differ"
  ok "$form: two runs with the same secret give identical output"
  if grep -qF -f "$WORK/emails.txt" "$out"; then fail "$form: a source e-mail address appears in the output"; fi
  ok "$form: none of the source e-mail addresses appears in the output"
  db=acc_$(echo "$form" | tr - _)
  q postgres "DROP DATABASE IF EXISTS $db" >/dev/null
  q postgres "CREATE DATABASE $db TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C'" >/dev/null
  psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f "$out" >/dev/null 2>"$WORK/restore.err" || { cat "$WORK/restore.err" >&2; fail "$form: restore failed"; }
  ok "$form: restores with ON_ERROR_STOP"
  for t in $KEPT; do [[ $(fingerprint "$SRC" "$t") == $(fingerprint "$db" "$t") ]] || fail "$form: kept table $t differs from the source"; done
  ok "$form: kept tables equal the source ($KEPT)"
  [[ $(q "$db" "SELECT count(*) = count(DISTINCT email) FROM users_user") == t ]] || fail "$form: users_user.email not unique"
  ok "$form: users_user.email unique ($(q "$db" "SELECT count(*) FROM users_user") rows)"
done
for t in users_user wagtailforms_formsubmission recruitment_jobalertsubscription feedback_feedbackcomment wagtailsearch_query django_session django_admin_log events_event; do
  a=$(fingerprint acc_plain "$t"); b=$(fingerprint acc_inserts "$t"); c=$(fingerprint acc_column_inserts "$t")
  [[ $a == "$b" && $a == "$c" ]] || fail "table $t differs between the COPY and INSERT forms"
done
ok "COPY, --inserts and --column-inserts give the same tables (same pseudonyms)"

# archives (issue 14): -Fc and -Fd -j 2 of the corpus, full rules, restored with pg_restore -j 2 and equal
# to the plain path table by table; the output's data holds no source e-mail
[[ -s $DUMPS/custom.dump ]] || pg_dump -Fc -d "$SRC" -f "$DUMPS/custom.dump"
[[ -s $DUMPS/dir/toc.dat ]] || { rm -rf "$DUMPS/dir"; pg_dump -Fd -j 2 -d "$SRC" -f "$DUMPS/dir"; }
ALL=$(q "$SRC" "SELECT string_agg(tablename, ' ' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'")
for arch in custom dir; do
  out=$WORK/full-$arch; rm -rf "$out"
  $BIN -r bench/rules-full.yaml --jobs 2 -o "$out" "$DUMPS/$([[ $arch == custom ]] && echo custom.dump || echo dir)"
  db=acc_$arch
  q postgres "DROP DATABASE IF EXISTS $db" >/dev/null
  q postgres "CREATE DATABASE $db TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C'" >/dev/null
  pg_restore -j 2 --exit-on-error -d "$db" "$out" 2>"$WORK/restore.err" || { cat "$WORK/restore.err" >&2; fail "$arch archive: pg_restore -j 2 failed"; }
  ok "$arch archive: restores with pg_restore -j 2 --exit-on-error"
  for t in $ALL; do [[ $(fingerprint acc_plain "$t") == $(fingerprint "$db" "$t") ]] || fail "$arch archive: table $t differs from the plain path"; done
  ok "$arch archive: every table equals the plain path's"
  if pg_restore -f - "$out" | grep -qF -f "$WORK/emails.txt"; then fail "$arch archive: a source e-mail address appears in the output"; fi
  ok "$arch archive: none of the source e-mail addresses appears in the output"
done

$BIN -r rules/examples/council.yaml -o "$WORK/council.sql" "$DUMPS/plain.sql"
q postgres "DROP DATABASE IF EXISTS acc_council" >/dev/null; q postgres "CREATE DATABASE acc_council TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C'" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d acc_council -f "$WORK/council.sql" >/dev/null 2>"$WORK/restore.err" || { cat "$WORK/restore.err" >&2; fail "council rules: restore failed"; }
if grep -qF -f "$WORK/emails.txt" "$WORK/council.sql"; then fail "council rules: a source e-mail address appears in the output"; fi
ok "council example rules: restores, no source e-mail in the output"
echo "all acceptance checks passed"
