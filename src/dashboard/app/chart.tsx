/** A small bar chart of a {@link Series}, drawn as SVG by hand. */
import type { Series } from "../types.js";

const WIDTH = 180;
const HEIGHT = 36;

/** Events per second in the last full bucket (the newest is still filling). */
export function latestRate(series: Series): number {
  const counts = series.counts;
  const last = counts.length >= 2 ? counts[counts.length - 2]! : (counts[0] ?? 0);
  return series.bucketMs > 0 ? (last * 1000) / series.bucketMs : 0;
}

/** Events per second over the chart's full buckets (all but the newest, still filling). */
export function averageRate(series: Series): number {
  const full = series.counts.length >= 2 ? series.counts.slice(0, -1) : series.counts;
  const total = full.reduce((sum, count) => sum + count, 0);
  return full.length > 0 && series.bucketMs > 0
    ? (total * 1000) / (full.length * series.bucketMs)
    : 0;
}

/** How long the chart reaches back: `5 min`, `90 s`. */
export function spanText(series: Series): string {
  const ms = series.counts.length * series.bucketMs;
  return ms >= 60_000 && ms % 60_000 === 0 ? `${ms / 60_000} min` : `${Math.round(ms / 1000)} s`;
}

export function rateText(rate: number): string {
  if (rate === 0) return "0/s";
  // A trickle is not nothing: "0.0/s" would say it is.
  if (rate < 0.05) return "<0.1/s";
  return rate < 10 ? `${rate.toFixed(1)}/s` : `${Math.round(rate)}/s`;
}

export function SeriesChart({
  series,
  label,
  tone,
}: {
  series: Series;
  label: string;
  tone: "ok" | "bad";
}) {
  const counts = series.counts;
  const max = Math.max(1, ...counts);
  const step = counts.length > 0 ? WIDTH / counts.length : WIDTH;
  const perSecond = series.bucketMs > 0 ? 1000 / series.bucketMs : 1;
  const rate = latestRate(series);
  const average = averageRate(series);
  const span = spanText(series);
  return (
    <div class="chart">
      <svg
        role="img"
        aria-label={label}
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        width={WIDTH}
        height={HEIGHT}
        class={`chart-${tone}`}
      >
        <title>{`${label}: ${rateText(rate)} now, ${rateText(average)} on average over ${span}, at most ${rateText(max * perSecond)}`}</title>
        <line x1="0" y1={HEIGHT - 0.5} x2={WIDTH} y2={HEIGHT - 0.5} class="chart-axis" />
        {counts.map((count, i) => {
          const height = count === 0 ? 0 : Math.max(1, (count / max) * (HEIGHT - 2));
          return (
            <rect
              key={i}
              x={i * step + 0.5}
              y={HEIGHT - height}
              width={Math.max(1, step - 1)}
              height={height}
            />
          );
        })}
      </svg>
      <div class="chart-caption">
        {label.replace(" per second", "/s")}: now {rateText(rate)} · {span} avg {rateText(average)}
      </div>
    </div>
  );
}
