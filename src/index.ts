export * from './api.js';
export { AnonymiseError, EXIT } from './errors.js';
export { decodeField, encodeField, unescapeField } from './dump/copy-codec.js';
export { CompiledRules } from './rules/rule-compiler.js';
export type { TableStats } from './dump/rewriter.js';
export { parseCondition } from './relations/people.js';
