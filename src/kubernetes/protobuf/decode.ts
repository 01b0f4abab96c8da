/**
 * Decoding Kubernetes protobuf bodies (`application/vnd.kubernetes.protobuf`) into the JSON the
 * same object has, as kube-apiserver reads what kubectl sends for built-in kinds.
 *
 * A body is the 4 bytes `k8s\0`, then a `runtime.Unknown` message: `typeMeta` (apiVersion,
 * kind), `raw` (the object's own message), `contentEncoding`, `contentType`. The object's message
 * is walked by its field table ({@link messageNamed}), one field at a time.
 *
 * Guarantees: any input ends in a value or a {@link ProtobufDecodeError}, never another error;
 * the work is linear in the body's size (each byte is read once; a length beyond the buffer is
 * refused before anything is read); messages nest at most {@link maxMessageDepth} deep.
 */
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import {
  type FieldType,
  type Message,
  type MessageField,
  messageNamed,
  objectMessage,
  protobufApiVersions,
  type ScalarType,
} from "./message-table.js";

/** The media type of Kubernetes protobuf bodies. */
export const protobufMediaType = "application/vnd.kubernetes.protobuf";

/** The 4 bytes every Kubernetes protobuf body starts with: `k8s\0`. */
export const protobufMagic: Uint8Array = new Uint8Array([0x6b, 0x38, 0x73, 0x00]);

/**
 * How deep messages may nest, as the stores' limit on objects (100 levels). No built-in message
 * contains itself today (a CronJob's pod spec is the deepest, about fifteen levels), so this
 * guards against definitions that someday do; groups nested in unknown fields are bounded by the
 * wire reader (100 levels).
 */
export const maxMessageDepth = 100;

/**
 * A protobuf body that cannot be read: not Kubernetes protobuf, cut short, malformed, or of a
 * kind whose definition is unknown. `unknownKind` says it was the last (the server answers
 * 415-style "send JSON" for it; the others are bad requests). Not retryable: the same bytes fail
 * the same way.
 */
export class ProtobufDecodeError extends Error {
  override readonly name = "ProtobufDecodeError" as const;
  constructor(
    message: string,
    readonly unknownKind = false,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The object a Kubernetes protobuf body carries, and the message it was read as. */
export interface DecodedObject {
  readonly object: Record<string, unknown>;
  /** The message's fully qualified name, e.g. `k8s.io.api.core.v1.Namespace`. */
  readonly message: string;
}

const unknownMessage = "k8s.io.apimachinery.pkg.runtime.Unknown";

/**
 * The object of a Kubernetes protobuf body, as JSON: `apiVersion` and `kind` from the envelope,
 * then the object's fields in the order Go writes them; fields Go's JSON would leave out (unset,
 * or a zero that is not a pointer's) are left out.
 * @throws ProtobufDecodeError for anything but a well-formed body of a built-in kind.
 * @example
 * const { object } = decodeKubernetesProtobuf(body); // { apiVersion: "v1", kind: "Namespace", … }
 */
export function decodeKubernetesProtobuf(body: Uint8Array): DecodedObject {
  if (body.length < protobufMagic.length || protobufMagic.some((byte, i) => body[i] !== byte))
    throw new ProtobufDecodeError(
      "the protobuf body does not start with the Kubernetes magic bytes k8s\\0",
    );
  const envelope = decodeMessage(
    body.subarray(protobufMagic.length),
    messageNamed(unknownMessage)!,
    "the protobuf envelope (runtime.Unknown)",
  ) as Record<string, unknown>;
  const typeMeta = (envelope.typeMeta ?? {}) as { apiVersion?: string; kind?: string };
  const apiVersion = typeMeta.apiVersion ?? "";
  const kind = typeMeta.kind ?? "";
  if (apiVersion === "" || kind === "")
    throw new ProtobufDecodeError(
      "the protobuf envelope does not say the object's apiVersion and kind (typeMeta)",
    );
  if (envelope.contentEncoding !== undefined)
    throw new ProtobufDecodeError(
      `the protobuf envelope's contentEncoding ${JSON.stringify(envelope.contentEncoding)} is not supported`,
    );
  const contentType = envelope.contentType;
  if (contentType !== undefined && contentType !== protobufMediaType)
    throw new ProtobufDecodeError(
      `the protobuf envelope carries ${JSON.stringify(contentType)}, not ${protobufMediaType}`,
    );
  const message = objectMessage(apiVersion, kind);
  if (message === undefined)
    throw new ProtobufDecodeError(
      `no protobuf definition of kind ${JSON.stringify(kind)} in ${JSON.stringify(apiVersion)} ` +
        `(protobuf is read for the built-in kinds of ${protobufApiVersions.join(", ")}): send JSON`,
      true,
    );
  const raw = Buffer.from((envelope.raw as string | undefined) ?? "", "base64");
  const object = decodeMessage(raw, message, `${apiVersion} ${kind}`) as Record<string, unknown>;
  return { object: { apiVersion, kind, ...object }, message: message.name };
}

/** Decodes `bytes` as `message`; `where` names it in errors. */
function decodeMessage(bytes: Uint8Array, message: Message, where: string): unknown {
  const walker = new Walker(bytes, where);
  try {
    return walker.message(message, bytes.length, 0);
  } catch (err) {
    if (err instanceof ProtobufDecodeError) throw err;
    throw new ProtobufDecodeError(
      `the protobuf body is malformed at ${walker.where()}: ${(err as Error).message}`,
      false,
      { cause: err },
    );
  }
}

/** The fields of one message as read, before their JSON shape is decided. */
type Read = Map<MessageField, unknown>;

const wireTypeOf: Record<ScalarType, WireType> = {
  string: WireType.LengthDelimited,
  bytes: WireType.LengthDelimited,
  int32: WireType.Varint,
  int64: WireType.Varint,
  bool: WireType.Varint,
};

const wireTypeNames = [
  "varint",
  "64-bit",
  "length-delimited",
  "start-group",
  "end-group",
  "32-bit",
];

/**
 * One walk over one buffer. `path` holds the names of the fields being read, so that an error
 * can say where it is without any name being built on the way there.
 */
class Walker {
  private readonly reader: BinaryReader;
  private readonly path: string[];

  constructor(bytes: Uint8Array, where: string) {
    this.reader = new BinaryReader(bytes);
    this.path = [where];
  }

  /** Where the walk is, e.g. `apps/v1 Deployment.spec.template`. */
  where(): string {
    return this.path.join(".");
  }

  /** Reads `message` up to `end`; its JSON value (`undefined`: Go's JSON would leave it out). */
  message(message: Message, end: number, depth: number): unknown {
    if (depth >= maxMessageDepth)
      throw new ProtobufDecodeError(
        `the protobuf body nests messages more than ${maxMessageDepth} deep (at ${this.where()})`,
      );
    const reader = this.reader;
    const read: Read = new Map();
    while (reader.pos < end) {
      const [number, wireType] = reader.tag();
      const field = message.fields.get(number);
      if (field === undefined) {
        // An unknown field (a newer client's) is skipped, as Kubernetes' generated code does.
        reader.skip(wireType, number);
      } else {
        this.path.push(field.name);
        if (field.label === "optional") {
          read.set(field, this.value(field.type, wireType, depth, read.get(field)));
        } else if (field.label === "repeated") {
          let list = read.get(field) as unknown[] | undefined;
          if (list === undefined) {
            list = [];
            read.set(field, list);
          }
          const scalar = field.type.scalar;
          if (wireType === WireType.LengthDelimited && isVarint(scalar)) {
            // A packed run of varints.
            const stop = this.lengthEnd();
            while (reader.pos < stop) list.push(this.scalar(scalar));
            this.within(stop);
          } else list.push(this.value(field.type, wireType, depth, undefined));
        } else {
          let map = read.get(field) as Map<string, unknown> | undefined;
          if (map === undefined) {
            map = new Map();
            read.set(field, map);
          }
          this.entry(field, wireType, depth, map);
        }
        this.path.pop();
      }
      this.within(end);
    }
    return shape(message, read);
  }

  /** One value of `type` (merged into `previous` when a message field comes twice). */
  private value(type: FieldType, wireType: WireType, depth: number, previous: unknown): unknown {
    if (type.scalar !== undefined) {
      this.expect(wireType, wireTypeOf[type.scalar]);
      return this.scalar(type.scalar);
    }
    this.expect(wireType, WireType.LengthDelimited);
    const end = this.lengthEnd();
    const value = this.message(messageNamed(type.message)!, end, depth + 1);
    // Protobuf merges a message field sent twice; Kubernetes' objects never do, so the later
    // one's fields win over the earlier one's.
    return isObject(previous) && isObject(value) ? { ...previous, ...value } : value;
  }

  /** One entry {key = 1, value = 2} of a map field. */
  private entry(
    field: MessageField,
    wireType: WireType,
    depth: number,
    map: Map<string, unknown>,
  ): void {
    this.expect(wireType, WireType.LengthDelimited);
    const end = this.lengthEnd();
    const reader = this.reader;
    let key = "";
    let value: unknown;
    while (reader.pos < end) {
      const [number, entryWireType] = reader.tag();
      if (number === 1) {
        this.expect(entryWireType, WireType.LengthDelimited);
        key = reader.string();
      } else if (number === 2) value = this.value(field.type, entryWireType, depth, undefined);
      else reader.skip(entryWireType, number);
      this.within(end);
    }
    map.set(key, value ?? zeroOf(field.type));
  }

  private scalar(type: ScalarType): unknown {
    const reader = this.reader;
    switch (type) {
      case "string":
        return reader.string();
      case "bytes":
        return Buffer.from(reader.bytes()).toString("base64");
      case "int32":
        return reader.int32();
      case "int64":
        return Number(reader.int64());
      case "bool":
        return reader.bool();
    }
  }

  /** Reads a length and returns where it ends, refusing one beyond the buffer. */
  private lengthEnd(): number {
    const length = this.reader.uint32();
    const end = this.reader.pos + length;
    if (end > this.reader.len)
      throw new ProtobufDecodeError(
        `the protobuf body is cut short: ${this.where()} says it is ${length} bytes long, ${this.reader.len - this.reader.pos} are left`,
      );
    return end;
  }

  /** Refuses a value that ran past the end of the message holding it. */
  private within(end: number): void {
    if (this.reader.pos > end)
      throw new ProtobufDecodeError(
        `the protobuf body is malformed: a field of ${this.where()} runs past its end`,
      );
  }

  private expect(got: WireType, want: WireType): void {
    if (got !== want)
      throw new ProtobufDecodeError(
        `the protobuf body is malformed: ${this.where()} is sent as ${wireTypeNames[got] ?? got}, it is ${wireTypeNames[want]}`,
      );
  }
}

function isVarint(type: ScalarType | undefined): type is "int32" | "int64" | "bool" {
  return type === "int32" || type === "int64" || type === "bool";
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The value a map entry without a value holds (Go's zero value of the type, in JSON). */
function zeroOf(type: FieldType): unknown {
  switch (type.scalar) {
    case "string":
    case "bytes":
      return "";
    case "int32":
    case "int64":
      return 0;
    case "bool":
      return false;
    default: {
      const special = messageNamed(type.message)!.special;
      if (special === "Quantity") return "0";
      if (special === "Time" || special === "MicroTime" || special === "RawExtension") return null;
      return {};
    }
  }
}

function isZero(value: unknown): boolean {
  return value === "" || value === 0 || value === false;
}

/** The JSON value of a message read as `read`. */
function shape(message: Message, read: Read): unknown {
  if (message.special !== undefined) return special(message, read);
  const out: Record<string, unknown> = {};
  if (read.size === 0) return out;
  // In the order of the Go struct, which Go's JSON keeps (the wire has field-number order).
  const fields = [...read.keys()];
  if (fields.length > 1) fields.sort((a, b) => a.position - b.position);
  for (const field of fields) {
    const value = read.get(field);
    if (field.label === "map") {
      const map = value as Map<string, unknown>;
      if (map.size > 0) out[field.name] = Object.fromEntries(map);
    } else if (field.label === "repeated") {
      const list = value as unknown[];
      for (let i = 0; i < list.length; i++) if (list[i] === undefined) list[i] = null;
      if (list.length > 0) out[field.name] = list;
    } else if (value === undefined) {
      // A zero Time, an empty RawExtension: Go writes null, and null is "unset" in JSON.
    } else if (field.inline && isObject(value)) Object.assign(out, value);
    else if (field.type.scalar === undefined || field.keepZero || !isZero(value))
      out[field.name] = value;
  }
  return out;
}

/** Go's zero `time.Time`, 0001-01-01T00:00:00Z, in Unix seconds. */
const goZeroTimeSeconds = -62_135_596_800;

/** The JSON of the messages whose Go type has a JSON form of its own. */
function special(message: Message, read: Read): unknown {
  const field = (name: string): unknown => {
    for (const [f, value] of read) if (f.name === name) return value;
    return undefined;
  };
  switch (message.special) {
    case "Time":
    case "MicroTime": {
      // Go reads an empty Time as its zero time (January 1 of year 1), which its JSON writes as
      // null, as it does when older clients send that time itself; any other, even
      // {seconds: 0}, is a time (the Unix epoch).
      if (read.size === 0) return undefined;
      const seconds = (field("seconds") as number | undefined) ?? 0;
      const nanos = (field("nanos") as number | undefined) ?? 0;
      if (seconds === goZeroTimeSeconds && (nanos === 0 || message.special === "Time"))
        return undefined;
      return rfc3339(seconds, nanos, message.special === "MicroTime");
    }
    case "Duration":
      return goDuration((field("duration") as number | undefined) ?? 0);
    case "Quantity": {
      const text = (field("string") as string | undefined) ?? "";
      return text === "" ? "0" : text;
    }
    case "IntOrString":
      return ((field("type") as number | undefined) ?? 0) === 1
        ? ((field("strVal") as string | undefined) ?? "")
        : ((field("intVal") as number | undefined) ?? 0);
    case "RawExtension":
    case "FieldsV1": {
      const raw = field(message.special === "FieldsV1" ? "Raw" : "raw") as string | undefined;
      if (raw === undefined || raw === "") return undefined;
      const text = Buffer.from(raw, "base64").toString("utf8");
      try {
        return JSON.parse(text);
      } catch {
        throw new ProtobufDecodeError(
          `the protobuf body's ${message.name.slice(message.name.lastIndexOf(".") + 1)} does not hold JSON`,
        );
      }
    }
    case "Verbs":
      return (field("items") as string[] | undefined) ?? [];
    default:
      return undefined;
  }
}

/**
 * Go's RFC 3339 form of a time: `2026-01-02T03:04:05Z` (meta/v1 Time has second precision in
 * JSON), or with microseconds `2026-01-02T03:04:05.123456Z` (MicroTime).
 */
function rfc3339(seconds: number, nanos: number, micro: boolean): string {
  const date = new Date(seconds * 1000);
  const year = date.getUTCFullYear();
  if (Number.isNaN(year) || year < 0 || year > 9999)
    throw new ProtobufDecodeError(`the protobuf body holds a time out of range (${seconds} s)`);
  const base = date.toISOString().slice(0, 19);
  if (!micro) return `${base}Z`;
  const micros = Math.trunc(Math.max(0, Math.min(nanos, 999_999_999)) / 1000);
  return `${base}.${String(micros).padStart(6, "0")}Z`;
}

/** Go's `time.Duration.String()` of `nanoseconds`: `1h2m3.5s`, `150ms`, `0s`. */
export function goDuration(nanoseconds: number): string {
  if (nanoseconds === 0) return "0s";
  const sign = nanoseconds < 0 ? "-" : "";
  let n = Math.abs(nanoseconds);
  if (n < 1e9) {
    const [unit, scale] = n < 1e3 ? ["ns", 1] : n < 1e6 ? ["µs", 1e3] : ["ms", 1e6];
    return `${sign}${trimmed(n / (scale as number))}${unit}`;
  }
  const hours = Math.floor(n / 3.6e12);
  n -= hours * 3.6e12;
  const minutes = Math.floor(n / 6e10);
  n -= minutes * 6e10;
  const seconds = `${trimmed(n / 1e9)}s`;
  if (hours > 0) return `${sign}${hours}h${minutes}m${seconds}`;
  if (minutes > 0) return `${sign}${minutes}m${seconds}`;
  return `${sign}${seconds}`;
}

function trimmed(value: number): string {
  return String(Number(value.toFixed(9)));
}
