#!/usr/bin/env bash
# npm run bench [-- --scale N] [-- --runs N] — speed and memory of anonymise-dump on the ../shared/bench
# corpus, against `cat`, `pg_dump > file` and a Node pipe (the floor for any Node filter), all measured
# in this one run. Writes bench/RESULTS.md. Needs the PostgreSQL server binaries (the corpus is built
# on a throwaway cluster by ../shared/bench/make-corpus.sh if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SCALE=1
RUNS=3
SLOW_READER=1
while [[ $# -gt 0 ]]; do
  case $1 in
    --scale) SCALE=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --no-slow-reader) SLOW_READER=0; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
SHARED=${SHARED_BENCH:-$ROOT/../shared/bench}
[[ -x $SHARED/make-corpus.sh ]] || { echo "no corpus scripts at $SHARED (set SHARED_BENCH)" >&2; exit 1; }
export ADBENCH_DIR=${ADBENCH_DIR:-/tmp/adbench} SCALE
DUMPS=$ADBENCH_DIR/dumps/s$SCALE
if [[ ! -s $DUMPS/plain.sql || ! -s $DUMPS/inserts.sql ]]; then "$SHARED/make-corpus.sh" >&2; else "$SHARED/pg-up.sh" >/dev/null 2>&1; fi
eval "$("$SHARED/pg-up.sh" 2>/dev/null | head -n 1)"
DB=$([[ $SCALE == 1 ]] && echo wagtail_like || echo "wagtail_like_s${SCALE//./_}")
[[ -d node_modules ]] || npm ci >&2
npm run build >/dev/null
WORK=$ROOT/bench/work
mkdir -p "$WORK"
OUT=$WORK/out.sql
BIN="$ROOT/bin/anonymise-dump.js -q"
export ANONYMISE_DUMP_SECRET=bench-key-7f3a9c1e5b2d
KEEP=$WORK/keep.yaml
printf 'version: 1\nunknown: keep\n' > "$KEEP"
FULL=$ROOT/bench/rules-full.yaml
SIZE=$(stat -c %s "$DUMPS/plain.sql")

declare -A SECS RSS CPU
# run NAME CMD: one warm-up, then RUNS timed runs; keeps the median wall time, the median CPU time
# (user + system, every thread) and the largest peak RSS
run() {
  local name=$1; shift
  local times=() cpus=() rss=0 t m u s
  rm -f "$OUT"; sync
  bash -c "$*" >/dev/null 2>&1 || { echo "FAILED: $name: $*" >&2; bash -c "$*" >&2; exit 1; }
  for ((i = 0; i < RUNS; i++)); do
    # every case starts alike: no old output to truncate or unlink, no dirty pages still being written
    rm -f "$OUT"; sync
    /usr/bin/time -f '%e %M %U %S' -o "$WORK/time" bash -c "$*" >/dev/null 2>&1
    read -r t m u s < "$WORK/time"
    times+=("$t")
    cpus+=("$(awk "BEGIN{print $u + $s}")")
    (( m > rss )) && rss=$m
  done
  SECS[$name]=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
  CPU[$name]=$(printf '%s\n' "${cpus[@]}" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
  RSS[$name]=$rss
  printf '%-34s %7.2f s  %6.0f MiB\n' "$name" "${SECS[$name]}" "$(awk "BEGIN{print $rss/1024}")" >&2
}

run cat "cat $DUMPS/plain.sql > $OUT"
run pg_dump "pg_dump -d $DB > $OUT"
run node-pipe "node -e 'process.stdin.pipe(process.stdout)' < $DUMPS/plain.sql > $OUT"
run node-pipe-1MiB "node -e \"require('fs').createReadStream(process.argv[1],{highWaterMark:1<<20}).pipe(require('fs').createWriteStream(process.argv[2]))\" $DUMPS/plain.sql $OUT"
run passthrough "$BIN -r $KEEP -o $OUT $DUMPS/plain.sql"
run full "$BIN -r $FULL -o $OUT $DUMPS/plain.sql"
run full-j1 "$BIN -r $FULL --jobs 1 -o $OUT $DUMPS/plain.sql"
run full-j2 "$BIN -r $FULL --jobs 2 -o $OUT $DUMPS/plain.sql"
run council "$BIN -r $ROOT/rules/examples/council.yaml -o $OUT $DUMPS/plain.sql"
run pipe-pg_dump-passthrough "pg_dump -d $DB | $BIN -r $KEEP > $OUT"
run pipe-pg_dump-full "pg_dump -d $DB | $BIN -r $FULL > $OUT"
run pipe-pg_dump-full-j2 "pg_dump -d $DB | $BIN -r $FULL --jobs 2 > $OUT"
run inserts-passthrough "$BIN -r $KEEP -o $OUT $DUMPS/inserts.sql"
run inserts-full "$BIN -r $FULL -o $OUT $DUMPS/inserts.sql"
run inserts-full-j1 "$BIN -r $FULL --jobs 1 -o $OUT $DUMPS/inserts.sql"
run inserts-full-j2 "$BIN -r $FULL --jobs 2 -o $OUT $DUMPS/inserts.sql"
run column-inserts-passthrough "$BIN -r $KEEP -o $OUT $DUMPS/column-inserts.sql"
run column-inserts-full "$BIN -r $FULL -o $OUT $DUMPS/column-inserts.sql"

# archives (issue 14): the corpus as pg_dump -Fc and -Fd -j 2, made once; outputs go to fresh names
[[ -s $DUMPS/custom.dump ]] || pg_dump -Fc -d "$DB" -f "$DUMPS/custom.dump"
[[ -s $DUMPS/dir/toc.dat ]] || { rm -rf "$DUMPS/dir"; pg_dump -Fd -j 2 -d "$DB" -f "$DUMPS/dir"; }
OUTD=$WORK/out.dir
run pg_dump-Fc "pg_dump -Fc -d $DB -f $OUT"
run pg_dump-Fd-j2 "rm -rf $OUTD; pg_dump -Fd -j 2 -d $DB -f $OUTD"
run cp-custom "cp $DUMPS/custom.dump $OUT"
# the floor of any Node process: starting one that does nothing
run node-start "node -e 0"
# a Node program that copies the archive (1 MiB reads, as ours): the floor for a keep-only pass
run node-copy-custom "node -e \"require('fs').createReadStream(process.argv[1],{highWaterMark:1<<20}).pipe(require('fs').createWriteStream(process.argv[2]))\" $DUMPS/custom.dump $OUT"
run custom-keep "$BIN -r $KEEP -o $OUT $DUMPS/custom.dump"
run custom-full-j1 "$BIN -r $FULL --jobs 1 -o $OUT $DUMPS/custom.dump"
run custom-full-j2 "$BIN -r $FULL --jobs 2 -o $OUT $DUMPS/custom.dump"
CSIZE1=$(stat -c %s "$OUT")
run custom-full-j2-z6 "$BIN -r $FULL --jobs 2 --compress-level 6 -o $OUT $DUMPS/custom.dump"
CSIZE6=$(stat -c %s "$OUT")
run custom-stdin-full "$BIN -r $FULL < $DUMPS/custom.dump > $OUT"
run dir-full-j1 "rm -rf $OUTD; $BIN -r $FULL --jobs 1 -o $OUTD $DUMPS/dir"
run dir-full-j2 "rm -rf $OUTD; $BIN -r $FULL --jobs 2 -o $OUTD $DUMPS/dir"
run pg_dump-Fd-j2-then-full "rm -rf $OUTD $WORK/src.dir; pg_dump -Fd -j 2 -d $DB -f $WORK/src.dir && $BIN -r $FULL -o $OUTD $WORK/src.dir"
rm -rf "$OUTD" "$WORK/src.dir"

# GDPR requests and subsets (issue 16): one user, and 1,000 users from a file, forgotten; a 5 % subset
COUNCIL=$ROOT/rules/examples/council.yaml
ONE="users_user.email=$(psql -X -d "$DB" -Atc 'SELECT email FROM users_user WHERE id = 1000')"
psql -X -d "$DB" -Atc "SELECT 'users_user.email=' || email FROM users_user WHERE id % 7 = 3 ORDER BY id LIMIT 1000" > "$WORK/people1000.txt"
printf 'version: 1\nsubset:\n  - { table: public.users_user, percent: 5 }\n' > "$WORK/subset5.yaml"
run find-one "$ROOT/bin/anonymise-dump.js find --where '$ONE' -r $COUNCIL $DUMPS/plain.sql"
run forget-one "$ROOT/bin/anonymise-dump.js forget -q --where '$ONE' -r $COUNCIL -o $OUT $DUMPS/plain.sql"
run forget-1000 "$ROOT/bin/anonymise-dump.js forget -q --people $WORK/people1000.txt -r $COUNCIL -o $OUT $DUMPS/plain.sql"
run forget-one-custom "$ROOT/bin/anonymise-dump.js forget -q --where '$ONE' -r $COUNCIL -o $OUT $DUMPS/custom.dump"
run subset5-full "$BIN -r $FULL -r $WORK/subset5.yaml -o $OUT $DUMPS/plain.sql"

SLOW=""
if [[ $SLOW_READER == 1 ]]; then
  # a reader that starts 15 s late: memory must stay flat while we wait on the pipe
  fifo=$WORK/fifo; rm -f "$fifo"; mkfifo "$fifo"
  # the reader opens the pipe at once (so we start) but reads nothing for 15 s
  (exec 3<"$fifo"; sleep 15; cat <&3 > "$OUT") &
  /usr/bin/time -f '%e %M' -o "$WORK/time" $BIN -r "$FULL" "$DUMPS/plain.sql" > "$fifo"
  wait
  read -r t m < "$WORK/time"
  SLOW="| ours, full rules, stdout to a pipe whose reader waits 15 s | $t s | | | | $(awk "BEGIN{printf \"%.0f\", $m/1024}") MiB |"
  rm -f "$fifo"
fi

mbs() { awk "BEGIN{printf \"%.0f\", $SIZE/1e6/$1}"; }
ISIZE=$(stat -c %s "$DUMPS/inserts.sql")
ratio() { awk "BEGIN{printf \"%.2f×\", $1/$2}"; }
row() { # name label
  echo "| $2 | ${SECS[$1]} s | $(mbs "${SECS[$1]}") MB/s | $(ratio "${SECS[$1]}" "${SECS[pg_dump]}") | $(ratio "${SECS[$1]}" "${SECS[cat]}") | $(awk "BEGIN{printf \"%.0f\", ${RSS[$1]}/1024}") MiB |"
}
{
  echo "# Benchmark results, SCALE=$SCALE"
  echo
  echo "## SCALE=$SCALE"
  echo
  echo "Written by \`npm run bench -- --scale $SCALE\` on $(date -u +%Y-%m-%d). Machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(lscpu | sed -n 's/^Model name:\s*//p' | head -n1), Node $(node --version), $(pg_dump --version)."
  echo "Input: the ../shared/bench corpus at SCALE=$SCALE, plain dump $(awk "BEGIN{printf \"%.1f\", $SIZE/1e6}") MB. Median of $RUNS runs after a warm-up; peak RSS is the largest of the runs (GNU time)."
  echo "Ratios are wall time over \`pg_dump > file\` and over \`cat\`, measured in the same run (lower is faster)."
  echo
  echo "| case | time | MB/s of the plain dump | vs pg_dump > file | vs cat | peak RSS |"
  echo "|---|---:|---:|---:|---:|---:|"
  row cat '`cat dump > file`'
  row pg_dump '`pg_dump > file`'
  row node-pipe '`node stdin.pipe(stdout)` file → file (floor for a Node filter)'
  row node-pipe-1MiB 'Node pipe, 1 MiB reads, file → file'
  row passthrough 'ours, passthrough (`unknown: keep`), file → file'
  row full 'ours, full rules (bench/rules-full.yaml), file → file (default --jobs: the cores, from 64 MiB of rewritten rows on)'
  row full-j1 'ours, full rules, file → file, `--jobs 1`'
  row full-j2 "ours, full rules, file → file, \`--jobs 2\` ($(awk "BEGIN{printf \"%.2f×\", ${SECS[full-j1]}/${SECS[full-j2]}}") the throughput of \`--jobs 1\`; target ≥ 1.5×)"
  row council 'ours, council example rules, file → file'
  row pipe-pg_dump-passthrough '`pg_dump \| ours -r passthrough > file`'
  row pipe-pg_dump-full '`pg_dump \| ours -r full > file` (target ≤ 1.25×)'
  row pipe-pg_dump-full-j2 '`pg_dump \| ours -r full --jobs 2 > file`'
  row inserts-passthrough 'ours, passthrough, `--inserts` dump'
  row inserts-full 'ours, full rules, `--inserts` dump (default --jobs)'
  row inserts-full-j1 'ours, full rules, `--inserts` dump, `--jobs 1`'
  row inserts-full-j2 "ours, full rules, \`--inserts\` dump, \`--jobs 2\` ($(awk "BEGIN{printf \"%.2f×\", ${SECS[inserts-full-j1]}/${SECS[inserts-full-j2]}}") the throughput of \`--jobs 1\`)"
  row column-inserts-passthrough 'ours, passthrough, `--column-inserts` dump'
  row column-inserts-full 'ours, full rules, `--column-inserts` dump'
  [[ -n $SLOW ]] && echo "$SLOW"
  echo
  gb() { awk "BEGIN{printf \"%.1f\", ${CPU[$1]}/($SIZE/1e9)}"; }
  echo "CPU seconds (user + system, all threads) per GB of the plain dump: passthrough $(gb passthrough), full rules \`--jobs 1\` $(gb full-j1), \`--jobs 2\` $(gb full-j2), \`--inserts\` full rules \`--jobs 1\` $(gb inserts-full-j1). Peak RSS with \`--jobs 2\` (this thread and one worker): $(awk "BEGIN{printf \"%.0f\", ${RSS[full-j2]}/1024/2}") MiB per thread."
  echo
  echo "Shares of the Node pipe floor (floor time / our time): passthrough $(awk "BEGIN{printf \"%.2f\", ${SECS[node-pipe]}/${SECS[passthrough]}}"), full rules $(awk "BEGIN{printf \"%.2f\", ${SECS[node-pipe]}/${SECS[full]}}"), \`--inserts\` full rules $(awk "BEGIN{printf \"%.2f\", ${SECS[node-pipe]}/${SECS[inserts-full]}}")."
  echo
  echo "### Archives (pg_dump -Fc $(awk "BEGIN{printf \"%.1f\", $(stat -c %s "$DUMPS/custom.dump")/1e6}") MB, -Fd -j 2 $(du -sm "$DUMPS/dir" | cut -f1) MB; gzip)"
  echo
  echo "| case | time | vs its reference | peak RSS |"
  echo "|---|---:|---:|---:|"
  arow() { echo "| $2 | ${SECS[$1]} s | $3 | $(awk "BEGIN{printf \"%.0f\", ${RSS[$1]}/1024}") MiB |"; }
  arow pg_dump-Fc '`pg_dump -Fc -f file`' ''
  arow pg_dump-Fd-j2 '`pg_dump -Fd -j 2`' ''
  arow cp-custom '`cp` of the -Fc archive' ''
  arow node-start '`node -e 0` (starting Node, nothing else)' "$(ratio "${SECS[node-start]}" "${SECS[cp-custom]}") of cp"
  arow node-copy-custom 'a Node program that copies the -Fc archive (1 MiB reads)' "$(ratio "${SECS[node-copy-custom]}" "${SECS[cp-custom]}") of cp"
  arow custom-keep 'ours, -Fc → -Fc, rules that only keep (tables copied as compressed blocks)' "$(ratio "${SECS[custom-keep]}" "${SECS[node-copy-custom]}") of the Node copy (target ≤ 1.5×), $(ratio "${SECS[custom-keep]}" "${SECS[cp-custom]}") of cp"
  arow custom-full-j1 'ours, -Fc → -Fc, full rules, --jobs 1' "$(ratio "${SECS[custom-full-j1]}" "${SECS[full]}") of plain file → file, full rules (target ≤ 1.2×)"
  arow custom-full-j2 'ours, -Fc → -Fc, full rules, --jobs 2 (the default here)' "$(ratio "${SECS[custom-full-j2]}" "${SECS[full]}") of plain file → file, full rules (target ≤ 1.2×)"
  arow custom-full-j2-z6 'the same, `--compress-level 6` (pg_dump'"'"'s level; default 1)' "$(ratio "${SECS[custom-full-j2-z6]}" "${SECS[full]}") of plain file → file, full rules"
  arow custom-stdin-full 'ours, -Fc on stdin → stdout, full rules' "$(ratio "${SECS[custom-stdin-full]}" "${SECS[full]}") of plain file → file, full rules"
  arow dir-full-j1 'ours, -Fd → -Fd, full rules, --jobs 1' ''
  arow dir-full-j2 'ours, -Fd → -Fd, full rules, --jobs 2' "$(awk "BEGIN{printf \"%.2f×\", ${SECS[dir-full-j1]}/${SECS[dir-full-j2]}}") the throughput of --jobs 1 (target ≥ 1.45×); $(ratio "${SECS[dir-full-j2]}" "${SECS[full]}") of plain file → file"
  arow pg_dump-Fd-j2-then-full '`pg_dump -Fd -j 2` then ours -Fd → -Fd, full rules' "$(ratio "${SECS[pg_dump-Fd-j2-then-full]}" "${SECS[pg_dump-Fd-j2]}") of \`pg_dump -Fd -j 2\` alone"
  echo
  echo "Output of -Fc → -Fc, full rules: $(awk "BEGIN{printf \"%.1f\", $CSIZE1/1e6}") MB at level 1, $(awk "BEGIN{printf \"%.1f\", $CSIZE6/1e6}") MB at level 6 (input $(awk "BEGIN{printf \"%.1f\", $(stat -c %s "$DUMPS/custom.dump")/1e6}") MB). \`--jobs 1\` uses one core for the rewriting and compression (inflating the input runs beside it on libuv's pool)."
  echo
  echo "Peak RSS is the whole process, worker threads included: with --jobs 2, $(awk "BEGIN{printf \"%.0f\", ${RSS[dir-full-j2]}/1024/2}") MiB per worker (-Fd) and $(awk "BEGIN{printf \"%.0f\", ${RSS[custom-full-j2]}/1024/2}") MiB per worker (-Fc)."
  echo
  echo "### GDPR requests and subsets (the council rules' relations; 1,000 users from a file; a 5 % sample of users with the full rules)"
  echo
  echo "| case | time | vs its reference | peak RSS |"
  echo "|---|---:|---:|---:|"
  arow find-one '`find` of one user, plain dump' "$(ratio "${SECS[find-one]}" "${SECS[passthrough]}") of a keep-only pass"
  arow forget-one '`forget` of one user, plain dump → file' "$(ratio "${SECS[forget-one]}" "${SECS[passthrough]}") of a keep-only pass (target ≤ 2.5×)"
  arow forget-1000 '`forget` of 1,000 users (--people), plain dump → file' "$(ratio "${SECS[forget-1000]}" "${SECS[passthrough]}") of a keep-only pass (target ≤ 2.5×)"
  arow forget-one-custom '`forget` of one user, -Fc → -Fc' "$(ratio "${SECS[forget-one-custom]}" "${SECS[custom-keep]}") of a keep-only -Fc pass"
  arow subset5-full 'full rules with a 5 % subset of users, plain → file' "$(ratio "${SECS[subset5-full]}" "${SECS[full]}") of full rules without it"
  echo
  echo "The \`--inserts\` dump is $(awk "BEGIN{printf \"%.1f\", $ISIZE/1e6}") MB: full rules run at $(awk "BEGIN{printf \"%.0f\", $ISIZE/1e6/${SECS[inserts-full]}}") MB/s of it."
} > "bench/results-s$SCALE.md"
# the cost per value of each rule kind, in process (bench/kinds.mjs)
{ echo "## Rule kinds"; echo; echo "Written by \`npm run bench\` on $(date -u +%Y-%m-%d) (bench/kinds.mjs), best of 5 in process."; echo; node bench/kinds.mjs; } > bench/results-kinds.md
# RESULTS.md: every scale measured so far, the rule kinds, then the profile notes (bench/profile.md, written by hand)
{ echo "# Benchmark results"; echo; for f in bench/results-s*.md; do sed '1,2d' "$f"; echo; done; cat bench/results-kinds.md; echo; cat bench/profile.md; } > bench/RESULTS.md
cat "bench/results-s$SCALE.md"
