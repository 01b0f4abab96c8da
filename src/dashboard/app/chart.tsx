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

export function rateText(rate: number): string {
  return rate === 0 ? "0/s" : rate < 10 ? `${rate.toFixed(1)}/s` : `${Math.round(rate)}/s`;
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
        <title>{`${label}: ${rateText(rate)} now, at most ${rateText(max * perSecond)}`}</title>
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
        {label.replace(" per second", "/s")}: {rateText(rate)}
      </div>
    </div>
  );
}
