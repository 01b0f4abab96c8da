/**
 * Encoding a built-in object's JSON as a Kubernetes protobuf body: the inverse of
 * {@link decodeKubernetesProtobuf}, walked over the same field tables. Only fields present in
 * the JSON are written (a client's pointer fields; unlike Go's generated code, plain zero fields
 * are not written either, which decodes to the same JSON).
 */
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { protobufMagic } from "./decode.js";
import { type FieldType, type Message, messageNamed, objectMessage } from "./message-table.js";

/**
 * The protobuf body of `object` (its `apiVersion` and `kind` name the message).
 * @throws Error when the kind has no protobuf definition, or a value does not fit its field.
 * @example
 * const body = encodeKubernetesProtobuf({ apiVersion: "v1", kind: "Namespace", metadata: { name: "x" } });
 */
export function encodeKubernetesProtobuf(object: Record<string, unknown>): Uint8Array {
  const { apiVersion, kind } = object as { apiVersion: string; kind: string };
  const message = objectMessage(apiVersion, kind);
  if (message === undefined) throw new Error(`no protobuf definition of ${apiVersion} ${kind}`);
  const raw = encodeMessage(message, object);
  const envelope = new BinaryWriter();
  envelope.tag(1, WireType.LengthDelimited).fork();
  envelope.tag(1, WireType.LengthDelimited).string(apiVersion);
  envelope.tag(2, WireType.LengthDelimited).string(kind);
  envelope.join();
  envelope.tag(2, WireType.LengthDelimited).bytes(raw);
  const body = envelope.finish();
  const out = new Uint8Array(protobufMagic.length + body.length);
  out.set(protobufMagic);
  out.set(body, protobufMagic.length);
  return out;
}

/** The bytes of `value` as `message`. */
export function encodeMessage(message: Message, value: unknown): Uint8Array {
  const writer = new BinaryWriter();
  writeMessage(writer, message, value);
  return writer.finish();
}

function writeMessage(writer: BinaryWriter, message: Message, value: unknown): void {
  if (message.special !== undefined) {
    writeSpecial(writer, message, value);
    return;
  }
  const object = value as Record<string, unknown>;
  for (const field of message.order) {
    if (field.inline) {
      const inner = encodeMessage(messageNamed(field.type.message!)!, object);
      if (inner.length > 0) writer.tag(field.number, WireType.LengthDelimited).bytes(inner);
      continue;
    }
    const item = object[field.name];
    if (item === undefined || item === null) continue;
    if (field.label === "repeated")
      for (const element of item as unknown[])
        writeValue(writer, field.number, field.type, element);
    else if (field.label === "map")
      for (const [key, entry] of Object.entries(item as Record<string, unknown>)) {
        writer.tag(field.number, WireType.LengthDelimited).fork();
        writer.tag(1, WireType.LengthDelimited).string(key);
        writeValue(writer, 2, field.type, entry);
        writer.join();
      }
    else writeValue(writer, field.number, field.type, item);
  }
}

function writeValue(writer: BinaryWriter, number: number, type: FieldType, value: unknown): void {
  switch (type.scalar) {
    case "string":
      writer.tag(number, WireType.LengthDelimited).string(String(value));
      return;
    case "bytes":
      writer.tag(number, WireType.LengthDelimited).bytes(Buffer.from(String(value), "base64"));
      return;
    case "int32":
      writer.tag(number, WireType.Varint).int32(Number(value));
      return;
    case "int64":
      writer.tag(number, WireType.Varint).int64(Number(value));
      return;
    case "bool":
      writer.tag(number, WireType.Varint).bool(Boolean(value));
      return;
    default:
      writer.tag(number, WireType.LengthDelimited).fork();
      writeMessage(writer, messageNamed(type.message)!, value);
      writer.join();
  }
}

function writeSpecial(writer: BinaryWriter, message: Message, value: unknown): void {
  switch (message.special) {
    case "Time":
    case "MicroTime": {
      const ms = Date.parse(String(value));
      const seconds = Math.floor(ms / 1000);
      const nanos = (String(value).match(/\.(\d+)/)?.[1] ?? "").padEnd(9, "0").slice(0, 9);
      writer.tag(1, WireType.Varint).int64(seconds);
      if (Number(nanos) > 0) writer.tag(2, WireType.Varint).int32(Number(nanos));
      return;
    }
    case "Quantity":
      writer.tag(1, WireType.LengthDelimited).string(String(value));
      return;
    case "IntOrString":
      if (typeof value === "string")
        writer.tag(1, WireType.Varint).int64(1).tag(3, WireType.LengthDelimited).string(value);
      else writer.tag(1, WireType.Varint).int64(0).tag(2, WireType.Varint).int32(Number(value));
      return;
    case "RawExtension":
    case "FieldsV1":
      writer.tag(1, WireType.LengthDelimited).bytes(Buffer.from(JSON.stringify(value)));
      return;
    case "Verbs":
      for (const verb of value as string[]) writer.tag(1, WireType.LengthDelimited).string(verb);
      return;
    case "Duration":
      throw new Error("encoding a Duration is not supported");
  }
}
