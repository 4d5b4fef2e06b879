// Runs the VM backups in order within the job's limits: in total, per host, per datastore (many backups at once on one host slow its running VMs).

export interface Limits {
  total: number;
  perHost?: number | undefined;
  perDatastore?: number | undefined;
}

export interface Slot {
  host: string;
  datastore: string;
}

/**
 * Starts each item as soon as the limits allow, in the given order; an item that must wait for its host or
 * datastore lets a later item for another host go first (no head-of-line blocking). `stopped()` true leaves the
 * rest unstarted (an interrupt); they are passed to `skip`.
 */
export async function runWithinLimits<T extends Slot>(
  items: readonly T[],
  limits: Limits,
  run: (item: T) => Promise<void>,
  opts: { stopped: () => boolean; skip: (item: T) => void },
): Promise<void> {
  const waiting = [...items];
  const byHost = new Map<string, number>();
  const byDatastore = new Map<string, number>();
  let running = 0;
  const fits = (x: T): boolean =>
    running < limits.total &&
    (limits.perHost === undefined || (byHost.get(x.host) ?? 0) < limits.perHost) &&
    (limits.perDatastore === undefined || (byDatastore.get(`${x.host}\0${x.datastore}`) ?? 0) < limits.perDatastore);
  const add = (x: T, n: number) => {
    running += n;
    byHost.set(x.host, (byHost.get(x.host) ?? 0) + n);
    const ds = `${x.host}\0${x.datastore}`;
    byDatastore.set(ds, (byDatastore.get(ds) ?? 0) + n);
  };
  await new Promise<void>((done) => {
    const pump = () => {
      if (opts.stopped()) {
        for (const x of waiting.splice(0)) opts.skip(x);
      }
      for (let i = 0; i < waiting.length; ) {
        const x = waiting[i]!;
        if (!fits(x)) {
          i++;
          continue;
        }
        waiting.splice(i, 1);
        add(x, 1);
        void run(x)
          .catch(() => {})
          .finally(() => {
            add(x, -1);
            pump();
          });
      }
      if (running === 0 && waiting.length === 0) done();
    };
    pump();
  });
}
