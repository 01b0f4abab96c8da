/**
 * The JSON of the last few objects sent: stored objects are frozen, so one serialization serves
 * every watch that sends the object (a hundred watchers of one change cost one JSON.stringify).
 * Bounded by count and by bytes, oldest out first: a cache of every object ever sent would
 * double the store's memory, and a thousand 1 MB objects would hold a gigabyte.
 */
export class RecentJson {
  private readonly entries = new Map<object, string>();
  private length = 0;

  constructor(
    private readonly capacity: number,
    private readonly maxLength: number,
  ) {}

  /** `object` as JSON, serialized once while it is among the recent ones. */
  of(object: object): string {
    let json = this.entries.get(object);
    if (json === undefined) {
      json = JSON.stringify(object);
      if (json.length > this.maxLength) return json;
      this.entries.set(object, json);
      this.length += json.length;
      while (this.entries.size > this.capacity || this.length > this.maxLength) {
        const [oldest, text] = this.entries.entries().next().value!;
        this.entries.delete(oldest);
        this.length -= text.length;
      }
    }
    return json;
  }
}
