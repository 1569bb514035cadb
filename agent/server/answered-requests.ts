/**
 * The answers an agent gave to signalling requests that carried a request id (`ps:kill`,
 * `ps:stop` of a one-off): a retry of the same request — the CLI moved to another control-plane
 * replica after an answer it did not get — is answered again without a second signal
 * (docs/high-availability.md#retries-never-apply-twice). Bounded: the newest `capacity`
 * answers, each for `ttlMs`, far longer than a client's retries.
 */
export class AnsweredRequests<T> {
  private readonly answers = new Map<string, { answer: T; atMs: number }>();

  constructor(
    private readonly capacity = 1_024,
    private readonly ttlMs = 10 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** The answer given to `id`, when it is still remembered. */
  get(id: string): T | undefined {
    const entry = this.answers.get(id);
    if (!entry) return undefined;
    if (this.now() - entry.atMs > this.ttlMs) {
      this.answers.delete(id);
      return undefined;
    }
    return entry.answer;
  }

  remember(id: string, answer: T): void {
    this.answers.delete(id);
    this.answers.set(id, { answer, atMs: this.now() });
    // A Map iterates in insertion order: the first key is the oldest answer.
    while (this.answers.size > this.capacity) this.answers.delete(this.answers.keys().next().value!);
  }

  get size(): number {
    return this.answers.size;
  }
}
