import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { kubectlBodies } from "../../../test/fixtures/kubectl-protobuf-bodies.js";
import {
  decodeKubernetesProtobuf,
  goDuration,
  ProtobufDecodeError,
  protobufMagic,
} from "./decode.js";
import { encodeKubernetesProtobuf } from "./encode.js";

/** JSON without its nulls: Go writes `creationTimestamp: null` for "unset". */
const withoutNulls = (value: unknown): unknown =>
  JSON.parse(JSON.stringify(value, (_key, item) => (item === null ? undefined : item)));

const bodyOf = (command: string) =>
  Buffer.from(kubectlBodies.find((b) => b.command === command)!.body, "base64");

/** A body of `raw` (the object's message bytes) under the envelope's typeMeta. */
function envelope(apiVersion: string, kind: string, raw: Uint8Array): Uint8Array {
  const writer = new BinaryWriter();
  writer.tag(1, WireType.LengthDelimited).fork();
  writer.tag(1, WireType.LengthDelimited).string(apiVersion);
  writer.tag(2, WireType.LengthDelimited).string(kind);
  writer.join();
  writer.tag(2, WireType.LengthDelimited).bytes(raw);
  return Buffer.concat([protobufMagic, writer.finish()]);
}

const failure = (body: Uint8Array): ProtobufDecodeError => {
  try {
    decodeKubernetesProtobuf(body);
  } catch (err) {
    expect(err).toBeInstanceOf(ProtobufDecodeError);
    return err as ProtobufDecodeError;
  }
  throw new Error("the body decoded");
};

describe("decodeKubernetesProtobuf on what kubectl sends", () => {
  it.each(kubectlBodies.map((b) => [b.command, b] as const))(
    "`kubectl %s` decodes to kubectl's own JSON of the object",
    (_command, { body, json }) => {
      const { object } = decodeKubernetesProtobuf(Buffer.from(body, "base64"));
      expect(object).toEqual(withoutNulls(json));
    },
  );

  it("keeps apiVersion and kind from the envelope, first", () => {
    const { object, message } = decodeKubernetesProtobuf(bodyOf("create namespace x"));
    expect(message).toBe("k8s.io.api.core.v1.Namespace");
    expect(Object.keys(object).slice(0, 3)).toEqual(["apiVersion", "kind", "metadata"]);
    expect(object).toEqual({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: "x" },
      spec: {},
      status: {},
    });
  });

  it("keeps a pointer field set to zero: --replicas=0 is replicas 0, not unset", () => {
    const { object } = decodeKubernetesProtobuf(
      bodyOf("create deployment zero --image=nginx --replicas=0"),
    );
    expect((object.spec as { replicas: number }).replicas).toBe(0);
  });

  it("writes bytes (Secret data, ConfigMap binaryData) as base64", () => {
    const secret = decodeKubernetesProtobuf(
      bodyOf("create secret generic s1 --from-literal=user=admin --from-literal=pass=s3cr3t"),
    ).object;
    expect(secret.data).toEqual({
      user: Buffer.from("admin").toString("base64"),
      pass: Buffer.from("s3cr3t").toString("base64"),
    });
    const configMap = decodeKubernetesProtobuf(
      bodyOf("create configmap bin1 --from-file=blob=/tmp/bin.dat --from-literal=t=text"),
    ).object;
    expect(configMap.data).toEqual({ t: "text" });
    expect(Buffer.from((configMap.binaryData as { blob: string }).blob, "base64")).toEqual(
      Buffer.from("\x00\x01\x02binary\xff", "latin1"),
    );
  });

  it("writes an IntOrString as a bare number or string", () => {
    const service = decodeKubernetesProtobuf(
      bodyOf("create service clusterip my-svc --tcp=80:8080"),
    ).object;
    expect((service.spec as { ports: unknown[] }).ports).toEqual([
      { name: "80-8080", protocol: "TCP", port: 80, targetPort: 8080 },
    ]);
    const pdb = decodeKubernetesProtobuf(
      bodyOf("create poddisruptionbudget pdb1 --selector=app=web --min-available=50%"),
    ).object;
    expect((pdb.spec as { minAvailable: unknown }).minAvailable).toBe("50%");
  });
});

describe("decodeKubernetesProtobuf on every shape", () => {
  it("round-trips a Pod with inline fields, quantities, probes and pointers set to zero", () => {
    const pod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name: "p",
        namespace: "team",
        labels: { app: "web" },
        creationTimestamp: "2026-01-02T03:04:05Z",
        ownerReferences: [
          { apiVersion: "apps/v1", kind: "ReplicaSet", name: "rs", uid: "u1", controller: true },
        ],
      },
      spec: {
        automountServiceAccountToken: false,
        terminationGracePeriodSeconds: 0,
        securityContext: { runAsUser: 0, fsGroup: 2000 },
        volumes: [
          { name: "cfg", configMap: { name: "settings", defaultMode: 420, optional: false } },
          { name: "scratch", emptyDir: { sizeLimit: "1Gi" } },
        ],
        containers: [
          {
            name: "web",
            image: "nginx",
            ports: [{ containerPort: 80, protocol: "TCP" }],
            env: [
              { name: "PASS", valueFrom: { secretKeyRef: { name: "s1", key: "pass" } } },
              { name: "MODE", value: "fast" },
            ],
            resources: { requests: { cpu: "250m", memory: "64Mi" }, limits: { cpu: "1" } },
            livenessProbe: { httpGet: { path: "/healthz", port: "http" }, initialDelaySeconds: 3 },
            readinessProbe: { tcpSocket: { port: 8080 } },
          },
        ],
      },
    };
    expect(decodeKubernetesProtobuf(encodeKubernetesProtobuf(pod)).object).toEqual(pod);
  });

  it("reads a Lease's MicroTime with microseconds and an Ingress's inline rule value", () => {
    const lease = {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: "l" },
      spec: {
        holderIdentity: "a",
        leaseDurationSeconds: 15,
        renewTime: "2026-01-02T03:04:05.123456Z",
      },
    };
    expect(decodeKubernetesProtobuf(encodeKubernetesProtobuf(lease)).object).toEqual(lease);
    const ingress = {
      apiVersion: "networking.k8s.io/v1",
      kind: "Ingress",
      metadata: { name: "i" },
      spec: {
        rules: [
          {
            host: "foo.com",
            http: {
              paths: [
                {
                  path: "/",
                  pathType: "Prefix",
                  backend: { service: { name: "s", port: { number: 80 } } },
                },
              ],
            },
          },
        ],
      },
    };
    expect(decodeKubernetesProtobuf(encodeKubernetesProtobuf(ingress)).object).toEqual(ingress);
  });

  it("reads a RawExtension as the JSON it holds", () => {
    const revision = {
      apiVersion: "apps/v1",
      kind: "ControllerRevision",
      metadata: { name: "r" },
      data: { spec: { template: { x: [1, "two", null] } } },
      revision: 3,
    };
    expect(decodeKubernetesProtobuf(encodeKubernetesProtobuf(revision)).object).toEqual(revision);
  });

  it("leaves out an empty Time (Go's zero time, null in JSON) but keeps the epoch", () => {
    const meta = new BinaryWriter();
    meta.tag(1, WireType.LengthDelimited).string("x");
    meta.tag(8, WireType.LengthDelimited).bytes(new Uint8Array());
    meta.tag(9, WireType.LengthDelimited).bytes(new BinaryWriter().tag(1, 0).int64(0).finish());
    const raw = new BinaryWriter().tag(1, WireType.LengthDelimited).bytes(meta.finish()).finish();
    expect(decodeKubernetesProtobuf(envelope("v1", "Namespace", raw)).object).toEqual({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: "x", deletionTimestamp: "1970-01-01T00:00:00Z" },
    });
  });

  it("reads repeated integers packed or not", () => {
    const requirement = (packed: boolean) => {
      const writer = new BinaryWriter().tag(1, WireType.LengthDelimited).string("main");
      if (packed) writer.tag(3, WireType.LengthDelimited).fork().int32(1).int32(-2).join();
      else writer.tag(3, WireType.Varint).int32(1).tag(3, WireType.Varint).int32(-2);
      return writer.finish();
    };
    for (const packed of [true, false]) {
      const rule = new BinaryWriter()
        .tag(1, WireType.LengthDelimited)
        .string("FailJob")
        .tag(2, WireType.LengthDelimited)
        .bytes(requirement(packed))
        .finish();
      const policy = new BinaryWriter().tag(1, WireType.LengthDelimited).bytes(rule).finish();
      const spec = new BinaryWriter().tag(11, WireType.LengthDelimited).bytes(policy).finish();
      const job = new BinaryWriter().tag(2, WireType.LengthDelimited).bytes(spec).finish();
      const { object } = decodeKubernetesProtobuf(envelope("batch/v1", "Job", job));
      expect(object.spec).toEqual({
        podFailurePolicy: {
          rules: [{ action: "FailJob", onExitCodes: { containerName: "main", values: [1, -2] } }],
        },
      });
    }
  });

  it("skips fields it does not know, as Kubernetes' generated code does", () => {
    const raw = new BinaryWriter()
      .tag(1, WireType.LengthDelimited)
      .bytes(new BinaryWriter().tag(1, WireType.LengthDelimited).string("x").finish())
      .tag(99, WireType.Varint)
      .int32(7)
      .tag(98, WireType.LengthDelimited)
      .string("future")
      .finish();
    expect(decodeKubernetesProtobuf(envelope("v1", "Namespace", raw)).object).toEqual({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: "x" },
    });
  });

  it("writes Durations as Go does", () => {
    expect(goDuration(0)).toBe("0s");
    expect(goDuration(1_500_000)).toBe("1.5ms");
    expect(goDuration(90e9)).toBe("1m30s");
    expect(goDuration(3723.5e9)).toBe("1h2m3.5s");
    expect(goDuration(-2e9)).toBe("-2s");
  });
});

describe("decodeKubernetesProtobuf on bad input", () => {
  it("refuses a body without the k8s\\0 magic", () => {
    const body = Buffer.from(bodyOf("create namespace x"));
    body[3] = 0x01;
    expect(failure(body).message).toMatch(/magic bytes k8s\\0/);
    expect(failure(Buffer.from('{"kind":"Namespace"}')).message).toMatch(/magic/);
    expect(failure(new Uint8Array()).message).toMatch(/magic/);
  });

  it("refuses a body cut short, at any length, with a ProtobufDecodeError", () => {
    const body = bodyOf("create deployment web --image=nginx:1.27 --replicas=3 --port=80");
    let refused = 0;
    for (let length = 0; length < body.length; length++) {
      try {
        decodeKubernetesProtobuf(body.subarray(0, length));
      } catch (err) {
        expect(err).toBeInstanceOf(ProtobufDecodeError);
        refused++;
      }
    }
    // Only a cut at a field boundary of the envelope before its raw object can read as a body.
    expect(refused).toBeGreaterThan(body.length - 5);
    expect(failure(body.subarray(0, body.length - 10)).message).toMatch(/cut short|premature/);
  });

  it("refuses a length beyond the buffer before reading it", () => {
    const writer = new BinaryWriter();
    writer.tag(1, WireType.LengthDelimited).fork();
    writer.tag(1, WireType.LengthDelimited).string("v1");
    writer.tag(2, WireType.LengthDelimited).string("Namespace");
    writer.join();
    writer.tag(2, WireType.LengthDelimited).uint32(0xfffffff0);
    const body = Buffer.concat([protobufMagic, writer.finish(), Buffer.from("abc")]);
    expect(failure(body).message).toMatch(/premature EOF|cut short/);
    const raw = new BinaryWriter().tag(1, WireType.LengthDelimited).uint32(2_000_000_000).finish();
    expect(failure(envelope("v1", "Namespace", raw)).message).toMatch(
      /cut short: v1 Namespace.metadata says it is 2000000000 bytes long/,
    );
  });

  it("refuses a kind without a protobuf definition, saying to send JSON", () => {
    for (const [apiVersion, kind] of [
      ["example.setpoint.dev/v1", "Widget"],
      ["v1", "Widget"],
      ["v1", "PodSpec"],
      ["v1", "__proto__"],
      ["v1", "constructor"],
    ]) {
      const error = failure(envelope(apiVersion!, kind!, new Uint8Array()));
      expect(error.unknownKind).toBe(true);
      expect(error.message).toContain(`no protobuf definition of kind "${kind}"`);
      expect(error.message).toContain("send JSON");
    }
  });

  it("refuses an envelope without typeMeta", () => {
    const body = Buffer.concat([
      protobufMagic,
      new BinaryWriter().tag(2, 2).bytes(new Uint8Array()).finish(),
    ]);
    expect(failure(body).message).toMatch(/apiVersion and kind/);
  });

  it("refuses a field sent with the wrong wire type, naming it", () => {
    const raw = new BinaryWriter().tag(1, WireType.Varint).int32(5).finish();
    expect(failure(envelope("v1", "Namespace", raw)).message).toMatch(
      /v1 Namespace.metadata is sent as varint, it is length-delimited/,
    );
  });

  it("refuses groups nested past the limit in an unknown field", () => {
    const writer = new BinaryWriter();
    for (let i = 0; i < 10_000; i++) writer.tag(50, WireType.StartGroup);
    expect(failure(envelope("v1", "Namespace", writer.finish())).message).toMatch(/malformed/);
  });

  it("refuses a RawExtension that does not hold JSON", () => {
    const raw = new BinaryWriter()
      .tag(2, WireType.LengthDelimited)
      .bytes(new BinaryWriter().tag(1, WireType.LengthDelimited).string("{not json").finish())
      .finish();
    expect(failure(envelope("apps/v1", "ControllerRevision", raw)).message).toMatch(
      /RawExtension does not hold JSON/,
    );
  });

  it("ends any input in an object or a ProtobufDecodeError, never another error", () => {
    const seeds = kubectlBodies.map((b) => Buffer.from(b.body, "base64"));
    fc.assert(
      fc.property(
        fc.constantFrom(...seeds),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
        (seed, flips) => {
          const body = Buffer.from(seed);
          for (const [at, byte] of flips) body[4 + (at % (body.length - 4))] = byte;
          try {
            decodeKubernetesProtobuf(body);
          } catch (err) {
            if (!(err instanceof ProtobufDecodeError)) throw err;
          }
        },
      ),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          decodeKubernetesProtobuf(Buffer.concat([protobufMagic, bytes]));
        } catch (err) {
          if (!(err instanceof ProtobufDecodeError)) throw err;
        }
      }),
      { numRuns: 2000 },
    );
  });
});
