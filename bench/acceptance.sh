#!/usr/bin/env bash
# The acceptance checks on the ../shared/bench corpus (SCALE=1 by default), as the issues state them:
#  - passthrough (unknown: keep) is byte-identical for the plain, --inserts and --column-inserts dumps;
#  - full rules: each form restores with ON_ERROR_STOP, kept tables equal the source, no source e-mail
#    appears anywhere in the output, users_user.email stays unique, two runs with one secret agree,
#    and the three forms give the same tables (the same pseudonyms);
#  - -Fc, -Fd -j 2 and -Ft archives, full rules, each written in its own format: pg_restore restores them
#    (-j 2 but for tar), every table equals the plain path's, no source e-mail in them;
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

# archives (issue 14): -Fc, -Fd -j 2 and -Ft of the corpus, full rules, restored with pg_restore (-j 2 but
# for tar) and equal to the plain path table by table; the output's data holds no source e-mail
[[ -s $DUMPS/custom.dump ]] || pg_dump -Fc -d "$SRC" -f "$DUMPS/custom.dump"
[[ -s $DUMPS/dir/toc.dat ]] || { rm -rf "$DUMPS/dir"; pg_dump -Fd -j 2 -d "$SRC" -f "$DUMPS/dir"; }
ALL=$(q "$SRC" "SELECT string_agg(tablename, ' ' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'")
[[ -s $DUMPS/tar.tar ]] || pg_dump -Ft -d "$SRC" -f "$DUMPS/tar.tar"
for arch in custom dir tar; do
  out=$WORK/full-$arch; rm -rf "$out"
  case $arch in custom) in=$DUMPS/custom.dump ;; dir) in=$DUMPS/dir ;; tar) in=$DUMPS/tar.tar ;; esac
  $BIN -r bench/rules-full.yaml --jobs 2 -o "$out" "$in"
  db=acc_$arch
  q postgres "DROP DATABASE IF EXISTS $db" >/dev/null
  q postgres "CREATE DATABASE $db TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C'" >/dev/null
  # pg_restore restores a tar archive with one job only
  jobs=$([[ $arch == tar ]] && echo 1 || echo 2)
  pg_restore -j $jobs --exit-on-error -d "$db" "$out" 2>"$WORK/restore.err" || { cat "$WORK/restore.err" >&2; fail "$arch archive: pg_restore -j $jobs failed"; }
  ok "$arch archive: restores with pg_restore -j $jobs --exit-on-error"
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
# GDPR requests and subsets (issue 16), with the council rules' relations (Django's and Wagtail's on_delete)
# a user with a session and the most admin-log entries: they own pages and wrote revisions too
SESSIONS="convert_from(decode(split_part(session_data, ':', 1), 'base64'), 'UTF8')::json->>'_auth_user_id'"
X=$(q "$SRC" "SELECT user_id FROM django_admin_log WHERE user_id::text IN (SELECT $SESSIONS FROM django_session) GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")
EMAIL=$(q "$SRC" "SELECT email FROM users_user WHERE id = $X")
USERNAME=$(q "$SRC" "SELECT username FROM users_user WHERE id = $X")
COUNCIL=rules/examples/council.yaml
$ROOT/bin/anonymise-dump.js find --json --where "users_user.email=$EMAIL" -r $COUNCIL "$DUMPS/plain.sql" > "$WORK/find.json"
count() { node -e "const r = JSON.parse(require('fs').readFileSync('$WORK/find.json')); const t = r.tables.find((t) => t.table === 'public.$1') ?? {}; console.log(t.$2 ?? 0)"; }
[[ $(count users_user matched) == 1 ]] || fail "find: the user is not matched once"
[[ $(count django_admin_log removed) == $(q "$SRC" "SELECT count(*) FROM django_admin_log WHERE user_id = $X") ]] || fail "find: admin-log rows by the user differ from SQL"
[[ $(count django_session removed) == $(q "$SRC" "SELECT count(*) FROM django_session WHERE $SESSIONS = '$X'") ]] || fail "find: sessions of the user differ from SQL"
[[ $(count wagtailcore_page referring) == $(q "$SRC" "SELECT count(*) FROM wagtailcore_page WHERE owner_id = $X") ]] || fail "find: pages owned differ from SQL"
[[ $(count wagtailcore_pagerevision referring) == $(q "$SRC" "SELECT count(*) FROM wagtailcore_pagerevision WHERE user_id = $X") ]] || fail "find: revisions differ from SQL"
ok "find: counts per table equal SQL on the source (user $X)"

# the oracle: PostgreSQL's own deletion, as Django's on_delete choices make it
q postgres "DROP DATABASE IF EXISTS acc_oracle" >/dev/null
q postgres "CREATE DATABASE acc_oracle TEMPLATE $SRC" >/dev/null
q acc_oracle "BEGIN; DELETE FROM django_admin_log WHERE user_id = $X; DELETE FROM django_session WHERE $SESSIONS = '$X';
  UPDATE wagtailcore_page SET owner_id = NULL WHERE owner_id = $X; UPDATE wagtailcore_pagerevision SET user_id = NULL WHERE user_id = $X;
  DELETE FROM users_user WHERE id = $X; COMMIT;" >/dev/null
NAKED=$(sed -E 's/\+[^@]*@/@/' <<< "$EMAIL")
hers() { echo "strpos(lower(t::text), lower('$EMAIL')) + strpos(lower(t::text), lower('$NAKED')) + strpos(lower(t::text), lower('$USERNAME'))"; }
# rows as text, sorted: the oracle's that name no one must all be in the output as they are
rowsof() { q "$1" "SELECT t::text FROM $2 t $3" | LC_ALL=C sort; }
for form in plain custom; do
  in=$DUMPS/$([[ $form == plain ]] && echo plain.sql || echo custom.dump); out=$WORK/forget-one-$form
  rm -rf "$out"
  $ROOT/bin/anonymise-dump.js forget -q --where "users_user.email=$EMAIL" -r $COUNCIL -o "$out" "$in"
  db=acc_forget_$form
  q postgres "DROP DATABASE IF EXISTS $db" >/dev/null
  q postgres "CREATE DATABASE $db TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C'" >/dev/null
  if [[ $form == plain ]]; then psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f "$out" >/dev/null 2>"$WORK/restore.err"; else pg_restore -j 2 --exit-on-error -d "$db" "$out" 2>"$WORK/restore.err"; fi || { cat "$WORK/restore.err" >&2; fail "forget ($form): restore failed"; }
  ok "forget one user ($form): restores"
  text=$([[ $form == plain ]] && cat "$out" || pg_restore -f - "$out")
  if LC_ALL=C grep -qwiF -e "$EMAIL" -e "$NAKED" -e "$USERNAME" <<< "$text"; then fail "forget ($form): the user's e-mail or user name is still in the output"; fi
  [[ $(q "$db" "SELECT count(*) FROM django_session WHERE $SESSIONS = '$X'") == 0 ]] || fail "forget ($form): a session of the user is left"
  ok "forget one user ($form): none of their values anywhere (rows, form JSON, admin-log text, sessions)"
  for t in $ALL; do
    [[ $(q "$db" "SELECT count(*) FROM $t") == $(q acc_oracle "SELECT count(*) FROM $t") ]] || fail "forget ($form): $t has not the rows PostgreSQL's own deletion leaves"
    rowsof acc_oracle "$t" "WHERE $(hers) = 0" > "$WORK/oracle.rows"; rowsof "$db" "$t" "" > "$WORK/out.rows"
    [[ -z $(LC_ALL=C comm -23 "$WORK/oracle.rows" "$WORK/out.rows" | head -c 1) ]] || fail "forget ($form): rows of $t that name no one differ from the source after the deletion"
  done
  ok "forget one user ($form): rows removed or set to NULL as the relations say; every other row equals the source"
done

q "$SRC" "SELECT 'users_user.email=' || email FROM users_user WHERE id % 45 = 2 ORDER BY id LIMIT 1000" > "$WORK/people1000.txt"
IDS="SELECT id FROM users_user WHERE id % 45 = 2 ORDER BY id LIMIT 1000"
$ROOT/bin/anonymise-dump.js forget -q --people "$WORK/people1000.txt" -r $COUNCIL -o "$WORK/forget-1000.sql" "$DUMPS/plain.sql"
q "$SRC" "SELECT email FROM users_user WHERE id IN ($IDS) UNION SELECT regexp_replace(email, '\+[^@]*@', '@') FROM users_user WHERE id IN ($IDS) UNION SELECT username FROM users_user WHERE id IN ($IDS)" > "$WORK/values1000.txt"
if LC_ALL=C grep -qwiF -f "$WORK/values1000.txt" "$WORK/forget-1000.sql"; then fail "forget 1,000: one of their e-mails or user names is still in the output (as a whole word)"; fi
q postgres "DROP DATABASE IF EXISTS acc_forget1000" >/dev/null; q postgres "CREATE DATABASE acc_forget1000 TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C'" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d acc_forget1000 -f "$WORK/forget-1000.sql" >/dev/null 2>"$WORK/restore.err" || { cat "$WORK/restore.err" >&2; fail "forget 1,000: restore failed"; }
[[ $(q acc_forget1000 "SELECT count(*) FROM users_user") == $(q "$SRC" "SELECT count(*) - 1000 FROM users_user") ]] || fail "forget 1,000: users left"
[[ $(q acc_forget1000 "SELECT count(*) FROM django_admin_log") == $(q "$SRC" "SELECT count(*) FROM django_admin_log WHERE user_id NOT IN ($IDS)") ]] || fail "forget 1,000: admin log"
[[ $(q acc_forget1000 "SELECT count(*) FROM wagtailcore_page WHERE owner_id IS NULL") == $(q "$SRC" "SELECT count(*) FROM wagtailcore_page WHERE owner_id IS NULL OR owner_id IN ($IDS)") ]] || fail "forget 1,000: page owners"
[[ $(q acc_forget1000 "SELECT count(*) FROM django_session") == $(q "$SRC" "SELECT count(*) FROM django_session WHERE ($SESSIONS)::int NOT IN ($IDS)") ]] || fail "forget 1,000: sessions"
ok "forget 1,000 users from a file: none of their values left, restores, dependent rows removed or nulled"

printf 'version: 1\nsubset:\n  - { table: public.users_user, percent: 5 }\nsubset_follow: parents_and_children\n' > "$WORK/subset5.yaml"
$BIN -r bench/rules-full.yaml -r "$WORK/subset5.yaml" -o "$WORK/subset-a.sql" "$DUMPS/plain.sql"
$BIN -r bench/rules-full.yaml -r "$WORK/subset5.yaml" -o "$WORK/subset-b.sql" "$DUMPS/plain.sql"
cmp -s "$WORK/subset-a.sql" "$WORK/subset-b.sql" || fail "subset: two runs with the same key differ"
q postgres "DROP DATABASE IF EXISTS acc_subset" >/dev/null; q postgres "CREATE DATABASE acc_subset TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C'" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d acc_subset -f "$WORK/subset-a.sql" >/dev/null 2>"$WORK/restore.err" || { cat "$WORK/restore.err" >&2; fail "subset: restore failed"; }
ok "5 % subset: restores with every foreign key valid ($(q acc_subset "SELECT count(*) FROM users_user") users, $(q acc_subset "SELECT count(*) FROM django_admin_log") admin-log rows), repeats exactly with the same key"

echo "all acceptance checks passed"
