export { readRules, compileRules, rewriteBuffer, rewriteStream, checkDump } from './api.js';
export type { RewriteOptions, RewriteResult, CheckResult, RulesSource } from './api.js';
export { AnonymiseError, EXIT } from './errors.js';
export { decodeField, encodeField, unescapeField } from './dump/copy-codec.js';
export { CompiledRules } from './rules/rule-compiler.js';
export type { TableStats } from './dump/rewriter.js';
export { findPeople, forgetDump } from './commands/people.js';
export type { FindResult, ForgetReport, PeopleRequest } from './commands/people.js';
export { parseCondition } from './relations/people.js';
