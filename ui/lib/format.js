// Pure formatting helpers for the settings window (unit-tested with node --test).

/** Bytes per second as a short human string: "0 B/s", "12.3 KB/s", "4.0 MB/s". */
export function formatSpeed(bytesPerSecond) {
  const n = Number(bytesPerSecond);
  if (!Number.isFinite(n) || n < 0) return "–";
  const units = ["B/s", "KB/s", "MB/s", "GB/s"];
  let value = n;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return unit === 0 ? `${Math.round(value)} ${units[0]}` : `${value.toFixed(1)} ${units[unit]}`;
}

/** Milliseconds as "23 ms" or "1.2 s". */
export function formatLatency(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(Number(ms))) return "–";
  const n = Number(ms);
  if (n < 10) return `${n.toFixed(1)} ms`;
  return n < 1000 ? `${Math.round(n)} ms` : `${(n / 1000).toFixed(1)} s`;
}

/** A count with thousands separators. */
export function formatCount(n) {
  return Number(n ?? 0).toLocaleString("en-US");
}
