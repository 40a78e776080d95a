/**
 * The library: what the command line does, as functions over streams and Buffers. The CLI (cli.ts) is
 * option wiring over these; a program can do the same without spawning it.
 *
 *   readRules → compileRules → rewriteStream / rewriteBuffer   (run)
 *   checkDump                                                  (check)
 *   scanDump, formatScan                                       (scan)
 *   leakCheck                                                  (scan --against)
 *   draftRules(scanDump(…))                                    (init)
 *   findPeople, forgetDump                                     (find, forget)
 */
export { readRules, compileRules, rewriteBuffer, rewriteStream, checkDump } from './engine/run.js';
export type { RewriteOptions, RewriteResult, CheckResult, RulesSource, StreamHandle } from './engine/run.js';
export type { JsPolicy } from './rules/rules-file.js';
export { scanDump, formatScan, foundAny, PII_KINDS } from './commands/scan.js';
export type { ScanResult, ColumnScan, PiiKind } from './commands/scan.js';
export { leakCheck } from './commands/leak-check.js';
export type { LeakReport } from './commands/leak-check.js';
export { draftRules } from './commands/init.js';
export { findPeople, forgetDump } from './commands/people.js';
export type { FindResult, ForgetReport, PeopleRequest } from './commands/people.js';
