// The part of autocannon's API the benchmarks (discovery.ts, https.ts) use: it ships no types.
declare module 'autocannon' {
  interface Histogram {
    average: number;
    p50: number;
    p99: number;
    total: number;
  }
  interface Result {
    requests: Histogram;
    latency: Histogram;
    errors: number;
    timeouts: number;
    non2xx: number;
    '2xx': number;
  }
  interface Options {
    url: string;
    connections?: number;
    duration?: number;
    headers?: Record<string, string>;
    timeout?: number;
    /** SNI for https URLs (autocannon never checks the certificate). */
    servername?: string;
  }
  function autocannon(opts: Options): Promise<Result>;
  export default autocannon;
}
