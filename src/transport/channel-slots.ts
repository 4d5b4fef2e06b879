// A counting semaphore for SSH channels: hosts refuse sessions beyond a small number, so calls above the limit queue.

type Grant = (release: () => void) => void;

export class ChannelSlots {
  private inUse = 0;
  private readonly waiting: Grant[] = [];
  private limit: number;

  constructor(max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`channel limit must be a positive integer, got ${max}`);
    this.limit = max;
  }

  get max(): number {
    return this.limit;
  }

  /** Lowers the limit (never below 1) once a host has refused a channel; slots in use above it are not taken back. */
  lowerTo(max: number): void {
    this.limit = Math.max(1, Math.min(this.limit, max));
  }

  get active(): number {
    return this.inUse;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /**
   * Calls onGranted (now or later, in FIFO order) with a release function. The returned cancel
   * leaves the queue if not yet granted, and releases the slot if it was.
   */
  request(onGranted: Grant): () => void {
    let release: (() => void) | undefined;
    let cancelled = false;
    const grant: Grant = (releaseSlot) => {
      release = releaseSlot;
      if (cancelled) releaseSlot();
      else onGranted(releaseSlot);
    };
    if (this.inUse < this.limit) {
      this.inUse++;
      grant(this.releaser());
    } else {
      this.waiting.push(grant);
    }
    return () => {
      if (cancelled) return;
      cancelled = true;
      if (release) release();
      else this.waiting.splice(this.waiting.indexOf(grant), 1);
    };
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inUse--;
      // Hand freed slots on in FIFO order, as long as the (possibly lowered) limit allows.
      while (this.inUse < this.limit && this.waiting.length > 0) {
        this.inUse++;
        this.waiting.shift()!(this.releaser());
      }
    };
  }
}
