/**
 * A tiny explicit state machine (STYLE.md §4). Stages are string enums; every transition
 * names the stage it leaves, and a transition from anywhere else throws a typed error with
 * the current and expected stages (after Flower's `check_stage` and OpenZeppelin's
 * `GovernorUnexpectedProposalState`).
 */
import { FedmeshError } from './errors.js';

export class StageError extends FedmeshError<'STAGE_UNEXPECTED', { machine: string; current: string; expected: string[]; next: string }> {}

export class StageMachine<S extends string> {
  private current: S;
  private readonly history: S[] = [];

  constructor(
    readonly name: string,
    initial: S,
    /** For each stage, the stages it may move to. Terminal stages map to []. */
    private readonly edges: Readonly<Record<S, readonly S[]>>,
  ) {
    this.current = initial;
    this.history.push(initial);
  }

  get stage(): S {
    return this.current;
  }

  get path(): readonly S[] {
    return this.history;
  }

  is(...stages: S[]): boolean {
    return stages.includes(this.current);
  }

  /** Throw unless in one of `stages`. */
  expect(...stages: S[]): void {
    if (!stages.includes(this.current)) {
      throw new StageError('STAGE_UNEXPECTED', `${this.name} is ${this.current}, expected ${stages.join('|')}`, {
        machine: this.name,
        current: this.current,
        expected: stages,
        next: this.current,
      });
    }
  }

  /** Move to `next`; throws StageError if the edge current → next does not exist. */
  to(next: S): void {
    if (!this.edges[this.current].includes(next)) {
      const expected = (Object.keys(this.edges) as S[]).filter((s) => this.edges[s].includes(next));
      throw new StageError('STAGE_UNEXPECTED', `${this.name}: cannot go ${this.current} → ${next}`, {
        machine: this.name,
        current: this.current,
        expected,
        next,
      });
    }
    this.current = next;
    this.history.push(next);
  }
}
