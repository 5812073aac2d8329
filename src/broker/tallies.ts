/**
 * Metrics on the message path without prom-client's per-call cost (it
 * builds and hashes a label object on every inc and observe: about 1 µs
 * each, several times per message). A tally keeps plain numbers per label
 * set and hands them to prom-client when the registry is read (a scrape, or
 * a test's get()), so what is exposed is what prom-client would have shown.
 */
import { Counter, type Registry } from 'prom-client';

/**
 * A counter whose increments are summed locally and folded into prom-client
 * at collect time. Label values are passed positionally (in `labelNames`
 * order) and looked up in nested maps: no object, string or closure is made
 * per increment once a label set has been seen.
 */
export class TalliedCounter<L extends string> {
  readonly #root = new Map<string, Tally<L> | Map<string, Tally<L>>>();
  readonly #all: Tally<L>[] = [];
  readonly #names: readonly L[];
  readonly metric: Counter<L>;

  constructor(options: { name: string; help: string; labelNames: readonly L[]; registry: Registry }) {
    if (options.labelNames.length < 1 || options.labelNames.length > 2) throw new Error('a tallied counter has one or two labels');
    this.#names = options.labelNames;
    const all = this.#all;
    this.metric = new Counter<L>({
      name: options.name, help: options.help, labelNames: [...options.labelNames], registers: [options.registry],
      collect() {
        for (const t of all) {
          if (t.n > 0) this.inc(t.labels, t.n);
          t.n = 0;
        }
      },
    });
  }

  inc(first: string, second?: string): void {
    let slot = this.#root.get(first);
    if (second === undefined) {
      if (slot === undefined) this.#root.set(first, slot = this.#tally([first]));
      (slot as Tally<L>).n++;
      return;
    }
    if (slot === undefined) this.#root.set(first, slot = new Map());
    const inner = slot as Map<string, Tally<L>>;
    let t = inner.get(second);
    if (t === undefined) inner.set(second, t = this.#tally([first, second]));
    t.n++;
  }

  #tally(values: readonly string[]): Tally<L> {
    const t = { labels: Object.fromEntries(this.#names.map((n, i) => [n, values[i]])) as Record<L, string>, n: 0 };
    this.#all.push(t);
    return t;
  }
}

interface Tally<L extends string> {
  readonly labels: Record<L, string>;
  n: number;
}

interface HistogramSeries<L extends string> {
  readonly labels: Record<L, string>;
  readonly buckets: Float64Array;
  sum: number;
  count: number;
}

/**
 * A histogram kept locally (cumulative buckets are computed when read) and
 * exposed through prom-client's registry as a metric of type histogram,
 * in the same text format as prom-client's own.
 */
export class TalliedHistogram<L extends string> {
  readonly #series = new Map<string, HistogramSeries<L>>();
  readonly #bounds: readonly number[];
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';

  constructor(options: { name: string; help: string; buckets: readonly number[]; registry: Registry }) {
    this.name = options.name;
    this.help = options.help;
    this.#bounds = [...options.buckets].sort((a, b) => a - b);
    options.registry.registerMetric(this as never);
  }

  /** One label: its value. */
  observe(label: L, labelValue: string, value: number): void {
    let s = this.#series.get(labelValue);
    if (!s) {
      s = { labels: { [label]: labelValue } as Record<L, string>, buckets: new Float64Array(this.#bounds.length), sum: 0, count: 0 };
      this.#series.set(labelValue, s);
    }
    const bounds = this.#bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        s.buckets[i]!++;
        break;
      }
    }
    s.sum += value;
    s.count++;
  }

  /** prom-client's MetricObjectWithValues, as its own Histogram.get() returns it. */
  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: { labels: Record<string, string | number>; value: number; metricName: string }[] }> {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const s of this.#series.values()) {
      let cumulative = 0;
      this.#bounds.forEach((le, i) => {
        cumulative += s.buckets[i]!;
        values.push({ labels: { le, ...s.labels }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { le: '+Inf', ...s.labels }, value: s.count, metricName: `${this.name}_bucket` });
      values.push({ labels: { ...s.labels }, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...s.labels }, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.#series.clear();
  }
}
