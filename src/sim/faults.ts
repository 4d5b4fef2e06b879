// Fault injection for the simulated host: rules matched against each simple command decide to fail, hang, slow, drop, fill or answer late.
//
// Rules are checked in order. Every rule whose regex matches a command counts that call; the first rule whose
// conditions (nth / after / times / probability) all hold fires, and later rules are not asked to fire.

import { readFileSync } from 'node:fs';
import * as z from 'zod';

export const faultRuleSchema = z
  .object({
    match: z.string().refine(isValidRegex, { message: 'not a valid regular expression' }),
    action: z.enum(['fail', 'hang', 'slow', 'drop', 'fill', 'late']),
    nth: z.number().int().min(1).optional(),
    after: z.number().int().min(0).optional(),
    probability: z.number().min(0).max(1).optional(),
    seed: z.number().int().optional(),
    times: z.number().int().min(1).optional(),
    exitCode: z.number().int().min(0).max(255).optional(),
    stderr: z.string().optional(),
    delayMs: z.number().min(0).optional(),
    bytesPerSecond: z.number().positive().optional(),
    datastore: z.string().optional(),
  })
  .strict()
  .superRefine((rule, ctx) => {
    // A late answer without a delay would be an ordinary answer: the rule would test nothing.
    if (rule.action === 'late' && rule.delayMs === undefined) {
      ctx.addIssue({ code: 'custom', path: ['delayMs'], message: 'required for action "late"' });
    }
  });

export type FaultRule = z.infer<typeof faultRuleSchema>;
export type FaultAction = FaultRule['action'];

/** A fault file holds either an array of rules or `{ "rules": [...] }`. */
export const faultFileSchema = z.union([z.array(faultRuleSchema), z.object({ rules: z.array(faultRuleSchema) }).strict()]);

export interface FaultDecision {
  ruleIndex: number;
  rule: FaultRule;
  action: FaultAction;
}

export interface FiredFault {
  ruleIndex: number;
  argv: string[];
  session: number;
  action: FaultAction;
  time: number;
}

interface RuleState {
  rule: FaultRule;
  regex: RegExp;
  matches: number;
  firings: number;
  random: () => number;
}

export class FaultEngine {
  readonly fired: FiredFault[] = [];
  private rules: RuleState[] = [];

  constructor(rules: FaultRule[] = []) {
    for (const rule of rules) this.add(rule);
  }

  /** Adds a rule (validated); returns its index. */
  add(rule: FaultRule): number {
    const parsed = faultRuleSchema.parse(rule);
    this.rules.push({
      rule: parsed,
      regex: new RegExp(parsed.match),
      matches: 0,
      firings: 0,
      random: seededRandom(parsed.seed ?? Math.floor(Math.random() * 2 ** 32)),
    });
    return this.rules.length - 1;
  }

  clear(): void {
    this.rules = [];
    this.fired.length = 0;
  }

  get ruleCount(): number {
    return this.rules.length;
  }

  /** Decides what to do with one simple command about to run; undefined means run it normally. */
  decide(argv: readonly string[], session: number): FaultDecision | undefined {
    const line = argv.join(' ');
    let decision: FaultDecision | undefined;
    this.rules.forEach((state, ruleIndex) => {
      if (!state.regex.test(line)) return;
      state.matches++;
      if (decision || !shouldFire(state)) return;
      state.firings++;
      decision = { ruleIndex, rule: state.rule, action: state.rule.action };
    });
    if (decision) this.fired.push({ ruleIndex: decision.ruleIndex, argv: [...argv], session, action: decision.action, time: Date.now() });
    return decision;
  }
}

function shouldFire(state: RuleState): boolean {
  const { rule, matches, firings } = state;
  if (rule.nth !== undefined && matches !== rule.nth) return false;
  if (rule.after !== undefined && matches <= rule.after) return false;
  if (rule.times !== undefined && firings >= rule.times) return false;
  if (rule.probability !== undefined && state.random() >= rule.probability) return false;
  return true;
}

/** mulberry32: a small deterministic PRNG, so a seed gives the same firing pattern on every run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function isValidRegex(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}

/** Validates fault rules from parsed JSON; the error names the path of every bad field, e.g. `rules[0].action`. */
export function parseFaultRules(json: unknown, source = 'fault rules'): FaultRule[] {
  const result = faultFileSchema.safeParse(json);
  if (result.success) return Array.isArray(result.data) ? result.data : result.data.rules;
  const branchIssues = pickBranchIssues(result.error.issues, json);
  const lines = branchIssues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`);
  throw new Error(`${source}: invalid fault rules:\n  ${lines.join('\n  ')}`);
}

/** Reads and validates a --faults JSON file. */
export function loadFaultFile(path: string): FaultRule[] {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`${path}: cannot read fault rules: ${(err as Error).message}`, { cause: err });
  }
  return parseFaultRules(json, path);
}

type Issue = { path: PropertyKey[]; message: string; code?: string; errors?: Issue[][] };

function pickBranchIssues(issues: readonly Issue[], json: unknown): Issue[] {
  const union = issues.length === 1 && issues[0]!.code === 'invalid_union' ? issues[0]! : undefined;
  if (!union?.errors) return [...issues];
  const branch = Array.isArray(json) ? union.errors[0] : union.errors[1];
  return branch ?? [...issues];
}

function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(top level)';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');
}
