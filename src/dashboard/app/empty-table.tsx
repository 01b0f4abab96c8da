/**
 * A table with no rows: its name for those who look it up, no header, and one line saying there
 * is nothing (its caption), in place of a header over nothing.
 */
export function EmptyTable({ label, text }: { label: string; text: string }) {
  return (
    <table aria-label={label} class="table empty">
      <caption class="muted">{text}</caption>
    </table>
  );
}
