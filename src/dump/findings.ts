/**
 * What the engine finds wrong with a dump under its rules — a table or column no rule classifies, a
 * rule that does not fit the table, a statement outside the rows the policy stops at — as findings with
 * a severity. `run` stops at the first fatal one (it is thrown where it is found, with its position);
 * `check` collects them all and reads on.
 */
import { AnonymiseError } from '../errors.js';
import type { Gap } from '../contract/plan.js';

export type Severity = 'fatal' | 'warning';

/** A statement outside the rows that the policy would stop the run for (collected by `check`). */
export interface OutsideFinding {
  line: number;
  object: string;
  message: string;
}

export class Findings {
  /** gaps in the rules, each once (by table and column), with the line it was first seen at */
  readonly gaps = new Map<string, Gap & { line: number; severity: Severity }>();
  /** rule errors, each message once */
  readonly ruleErrors = new Set<string>();
  readonly outside: OutsideFinding[] = [];

  /** `collect`: check's mode, where nothing stops the read */
  constructor(readonly collect: boolean) {}

  /** A rule that does not fit, or a table whose rule cannot be known: fatal. */
  rule(e: AnonymiseError): void {
    if (!this.collect) throw e;
    this.ruleErrors.add(e.message);
  }

  /** A statement outside the rows that the policy stops at: fatal. */
  outsideRows(message: string, line: number, object: string | undefined): void {
    if (!this.collect) throw new AnonymiseError('OUTSIDE_ROWS', message, { line, object });
    this.outside.push({ line, object: object ?? '', message });
  }

  /**
   * A table or column no rule classifies: fatal under `unknown: fail`, else a warning (the policy
   * applies to it). A run meets the fatal ones in its up-front check, before any output.
   */
  gap(g: Gap, line: number, severity: Severity): void {
    const key = g.column ? `${g.table}\0${g.column}` : g.table;
    if (!this.gaps.has(key)) this.gaps.set(key, { ...g, line, severity });
  }
}
