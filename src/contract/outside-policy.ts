/**
 * The policy for what lies outside the rows (statistics, comments, DDL literals, role names), as the
 * rules file sets it and the engine (dump/outside.ts) applies it; and what the rules say of one table's
 * exposure, for its statistics.
 */

export type StatisticsPolicy = 'safe' | 'drop' | 'keep';
export type CommentPolicy = 'scrub' | 'keep' | 'drop';
export type LiteralPolicy = 'fail' | 'scrub' | 'keep';
export type RolePolicy = 'keep' | 'pseudonymise';
export type ObjectAction = 'keep' | 'scrub' | 'drop';

export interface OutsidePolicy {
  statistics: StatisticsPolicy;
  comments: CommentPolicy;
  /** unset: follows `unknown` (fail → fail, keep → keep, null → scrub) */
  literals?: LiteralPolicy;
  roles: RolePolicy;
  /** per-object overrides of `literals` and `comments`, by label glob (`FUNCTION public.notify()`) */
  objects: { pattern: string; re: RegExp; action: ObjectAction }[];
}

export const DEFAULT_OUTSIDE: OutsidePolicy = { statistics: 'safe', comments: 'scrub', roles: 'keep', objects: [] };

/** What the rules say of one table, for its statistics. */
export interface TableExposure {
  /** all rows written, some (a row filter), or none (dropped, or unclassified) */
  rows: 'all' | 'some' | 'none';
  /** the column's values are written as they are */
  kept(column: string): boolean;
  /** every column is (the statistics of an expression index on the table may stay) */
  allKept: boolean;
}

export type OutsideCount = 'secretsRemoved' | 'commentsScrubbed' | 'commentsDropped' | 'literalsScrubbed' | 'statisticsStripped' | 'statisticsDropped' | 'rolesPseudonymised' | 'objectsDropped' | 'identifiersScrubbed';
