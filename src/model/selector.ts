/**
 * Label and field selectors, parsed as Kubernetes parses them
 * (`k8s.io/apimachinery/pkg/labels` and `pkg/fields`).
 *
 * Label selectors: comma-separated requirements — `key`, `!key`, `key=value`, `key==value`,
 * `key!=value`, `key in (a,b)`, `key notin (a,b)`, `key>1`, `key<1`. `!=` and `notin` also match
 * objects that lack the key, as in Kubernetes. Field selectors: `field=value`, `field==value`,
 * `field!=value`, comma-separated, with `\` escaping `,`, `=` and `\` in values; stores support
 * `metadata.name` and `metadata.namespace`.
 */
import { type ApiError, badRequest } from "./api-error.js";
import { checkLabelValue, checkQualifiedName, FieldErrors } from "./validation.js";

/** An operator of one label requirement. */
export type LabelOperator = "In" | "NotIn" | "Exists" | "DoesNotExist" | "Gt" | "Lt";

/** One requirement of a label selector. */
export interface LabelRequirement {
  readonly key: string;
  readonly operator: LabelOperator;
  readonly values: readonly string[];
}

/** The structured form of a label selector, as it appears in specs (`metav1.LabelSelector`). */
export interface LabelSelectorObject {
  readonly matchLabels?: Readonly<Record<string, string>>;
  readonly matchExpressions?: readonly {
    readonly key: string;
    readonly operator: "In" | "NotIn" | "Exists" | "DoesNotExist";
    readonly values?: readonly string[];
  }[];
}

/** A parsed label selector; the empty selector matches everything. */
export class LabelSelector {
  readonly requirements: readonly LabelRequirement[];

  constructor(requirements: readonly LabelRequirement[]) {
    this.requirements = requirements;
  }

  /** Whether an object with these labels is selected. */
  matches(labels: Readonly<Record<string, string>> | undefined): boolean {
    for (const { key, operator, values } of this.requirements) {
      const value = labels?.[key];
      switch (operator) {
        case "Exists":
          if (value === undefined) return false;
          break;
        case "DoesNotExist":
          if (value !== undefined) return false;
          break;
        case "In":
          if (value === undefined || !values.includes(value)) return false;
          break;
        case "NotIn":
          if (value !== undefined && values.includes(value)) return false;
          break;
        case "Gt":
        case "Lt": {
          if (value === undefined || !/^-?[0-9]+$/.test(value)) return false;
          const have = Number(value);
          const bound = Number(values[0]);
          if (operator === "Gt" ? !(have > bound) : !(have < bound)) return false;
        }
      }
    }
    return true;
  }

  get empty(): boolean {
    return this.requirements.length === 0;
  }

  /** The canonical string form, as Kubernetes prints it. */
  toString(): string {
    return this.requirements
      .map(({ key, operator, values }) => {
        switch (operator) {
          case "Exists":
            return key;
          case "DoesNotExist":
            return `!${key}`;
          case "Gt":
            return `${key}>${values[0]}`;
          case "Lt":
            return `${key}<${values[0]}`;
          case "In":
            return values.length === 1 ? `${key}=${values[0]}` : `${key} in (${values.join(",")})`;
          case "NotIn":
            return values.length === 1
              ? `${key}!=${values[0]}`
              : `${key} notin (${values.join(",")})`;
        }
        return "";
      })
      .join(",");
  }
}

type Token =
  | { kind: "id"; text: string; at: number }
  | { kind: "op"; text: "!" | "=" | "==" | "!=" | "(" | ")" | "," | ">" | "<"; at: number }
  | { kind: "end"; at: number };

const specialChars = new Set(["!", "=", "(", ")", ",", ">", "<"]);

function tokenize(input: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i]!;
    if (c === " " || c === "\t" || c === "\n" || c === "\r") {
      i++;
    } else if (specialChars.has(c)) {
      const two = input.slice(i, i + 2);
      if (two === "==" || two === "!=") {
        tokens.push({ kind: "op", text: two, at: i });
        i += 2;
      } else {
        tokens.push({ kind: "op", text: c as "!", at: i });
        i++;
      }
    } else {
      const start = i;
      while (i < input.length && !specialChars.has(input[i]!) && !/\s/.test(input[i]!)) i++;
      tokens.push({ kind: "id", text: input.slice(start, i), at: start });
    }
  }
  tokens.push({ kind: "end", at: input.length });
  return tokens;
}

function selectorError(input: string, at: number, what: string): ApiError {
  return badRequest(`unable to parse label selector "${input}": ${what} at position ${at}`);
}

/**
 * Parses a label selector string; throws `ApiError` (BadRequest) naming the token at fault.
 *
 * @example
 * ```ts
 * parseLabelSelector("app=shop,tier in (web,api),!canary").matches({ app: "shop", tier: "web" }); // true
 * ```
 */
export function parseLabelSelector(input: string): LabelSelector {
  const tokens = tokenize(input);
  const requirements: LabelRequirement[] = [];
  let p = 0;
  const peek = () => tokens[p]!;
  const next = () => tokens[p++]!;
  const describe = (t: Token) => (t.kind === "end" ? "end of input" : `"${t.text}"`);
  const expectId = (what: string): Extract<Token, { kind: "id" }> => {
    const t = next();
    if (t.kind !== "id") throw selectorError(input, t.at, `expected ${what}, found ${describe(t)}`);
    return t;
  };

  if (peek().kind === "end") return new LabelSelector([]);
  for (;;) {
    let requirement: LabelRequirement;
    const first = peek();
    if (first.kind === "op" && first.text === "!") {
      next();
      requirement = {
        key: expectId("a label key after '!'").text,
        operator: "DoesNotExist",
        values: [],
      };
    } else {
      const key = expectId("a label key").text;
      const op = peek();
      if (op.kind === "end" || (op.kind === "op" && op.text === ",")) {
        requirement = { key, operator: "Exists", values: [] };
      } else if (op.kind === "id" && (op.text === "in" || op.text === "notin")) {
        next();
        const open = next();
        if (open.kind !== "op" || open.text !== "(")
          throw selectorError(input, open.at, `expected "(", found ${describe(open)}`);
        const values: string[] = [];
        if (!(peek().kind === "op" && (peek() as { text: string }).text === ")")) {
          for (;;) {
            const v = peek();
            if (v.kind === "id") {
              values.push(v.text);
              next();
            } else {
              values.push(""); // `in (a,,b)` and `in (,a)` hold the empty value, as in Kubernetes
            }
            const sep = next();
            if (sep.kind === "op" && sep.text === ")") break;
            if (!(sep.kind === "op" && sep.text === ","))
              throw selectorError(input, sep.at, `expected "," or ")", found ${describe(sep)}`);
          }
        } else {
          // `in ()` is `in ("")`, as Kubernetes' parser reads it: never an empty set, which
          // would select nothing (or, for notin, everything).
          values.push("");
          next();
        }
        requirement = { key, operator: op.text === "in" ? "In" : "NotIn", values };
      } else if (op.kind === "op" && (op.text === "=" || op.text === "==" || op.text === "!=")) {
        next();
        const v = peek();
        let value = "";
        if (v.kind === "id") {
          value = v.text;
          next();
        }
        requirement = { key, operator: op.text === "!=" ? "NotIn" : "In", values: [value] };
      } else if (op.kind === "op" && (op.text === ">" || op.text === "<")) {
        next();
        const v = expectId("an integer");
        if (!/^-?[0-9]+$/.test(v.text))
          throw selectorError(input, v.at, `"${v.text}" is not an integer`);
        requirement = { key, operator: op.text === ">" ? "Gt" : "Lt", values: [v.text] };
      } else {
        throw selectorError(
          input,
          op.at,
          `expected an operator (=, ==, !=, in, notin, >, <) after "${key}", found ${describe(op)}`,
        );
      }
    }
    const errors = new FieldErrors();
    checkQualifiedName(errors, "key", requirement.key);
    if (requirement.operator === "In" || requirement.operator === "NotIn") {
      for (const value of requirement.values) checkLabelValue(errors, "values", value);
    }
    if (!errors.empty) {
      throw badRequest(
        `unable to parse label selector "${input}": ${errors.causes.map((c) => `${c.field}: ${c.message}`).join(", ")}`,
      );
    }
    requirements.push(requirement);
    const sep = next();
    if (sep.kind === "end") break;
    if (!(sep.kind === "op" && sep.text === ","))
      throw selectorError(input, sep.at, `expected "," found ${describe(sep)}`);
  }
  return new LabelSelector(requirements);
}

/** Converts a structured `LabelSelector` (as in specs) into a parsed one, checking it. */
export function labelSelectorFromObject(selector: LabelSelectorObject): LabelSelector {
  const requirements: LabelRequirement[] = [];
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    requirements.push({ key, operator: "In", values: [value] });
  }
  for (const [i, { key, operator, values = [] }] of (selector.matchExpressions ?? []).entries()) {
    const needsValues = operator === "In" || operator === "NotIn";
    if (!["In", "NotIn", "Exists", "DoesNotExist"].includes(operator)) {
      throw badRequest(`matchExpressions[${i}].operator: "${operator}" is not a valid operator`);
    }
    if (needsValues && values.length === 0) {
      throw badRequest(`matchExpressions[${i}].values: must be non-empty for operator ${operator}`);
    }
    if (!needsValues && values.length > 0) {
      throw badRequest(`matchExpressions[${i}].values: must be empty for operator ${operator}`);
    }
    requirements.push({ key, operator, values: [...values] });
  }
  const errors = new FieldErrors();
  for (const r of requirements) {
    checkQualifiedName(errors, "key", r.key);
    for (const v of r.values) checkLabelValue(errors, "values", v);
  }
  if (!errors.empty)
    throw badRequest(
      `invalid label selector: ${errors.causes.map((c) => `${c.field}: ${c.message}`).join(", ")}`,
    );
  return new LabelSelector(requirements);
}

/** A label selector in any of its forms. */
export type LabelSelectorInput = string | LabelSelectorObject | LabelSelector;

/** Normalizes any form of label selector; throws BadRequest on a malformed one. */
export function toLabelSelector(input: LabelSelectorInput): LabelSelector {
  if (input instanceof LabelSelector) return input;
  return typeof input === "string" ? parseLabelSelector(input) : labelSelectorFromObject(input);
}

/** One term of a field selector. */
export interface FieldRequirement {
  readonly field: string;
  readonly operator: "=" | "!=";
  readonly value: string;
}

/** The fields every store can select on. */
export const selectableFields: readonly string[] = ["metadata.name", "metadata.namespace"];

/** A parsed field selector over `metadata.name` and `metadata.namespace`. */
export class FieldSelector {
  readonly requirements: readonly FieldRequirement[];

  constructor(requirements: readonly FieldRequirement[]) {
    this.requirements = requirements;
  }

  /** Whether an object with this metadata is selected. */
  matches(metadata: { readonly name: string; readonly namespace?: string | undefined }): boolean {
    for (const { field, operator, value } of this.requirements) {
      const have = field === "metadata.name" ? metadata.name : (metadata.namespace ?? "");
      if ((have === value) !== (operator === "=")) return false;
    }
    return true;
  }

  /**
   * Whether an object whose fields read as `read` gives them is selected: for selectors
   * over a kind's own selectable fields (an Event's `reason`), which a server evaluates itself.
   * A field with no value reads as `""`, as in Kubernetes.
   */
  matchesFields(read: (field: string) => string): boolean {
    for (const { field, operator, value } of this.requirements)
      if ((read(field) === value) !== (operator === "=")) return false;
    return true;
  }

  /** The terms on `fields` (in), or on every other field (out), as a selector of their own. */
  split(fields: readonly string[]): { readonly in: FieldSelector; readonly out: FieldSelector } {
    return {
      in: new FieldSelector(this.requirements.filter((r) => fields.includes(r.field))),
      out: new FieldSelector(this.requirements.filter((r) => !fields.includes(r.field))),
    };
  }

  /** The value a term requires a field to equal, if there is exactly one such term. */
  exact(field: string): string | undefined {
    const terms = this.requirements.filter((r) => r.field === field && r.operator === "=");
    return terms.length === 1 ? terms[0]!.value : undefined;
  }

  toString(): string {
    const escapeValue = (v: string) => v.replace(/[\\,=]/g, (c) => `\\${c}`);
    return this.requirements.map((r) => `${r.field}${r.operator}${escapeValue(r.value)}`).join(",");
  }
}

/**
 * Parses a field selector string; throws `ApiError` (BadRequest) naming the term at fault or
 * the unsupported field.
 *
 * @param supported the fields a term may name. @default {@link selectableFields}
 * @example
 * ```ts
 * parseFieldSelector("metadata.name=shop,metadata.namespace!=kube-system");
 * ```
 */
export function parseFieldSelector(
  input: string,
  supported: readonly string[] = selectableFields,
): FieldSelector {
  const requirements: FieldRequirement[] = [];
  if (input.trim() === "") return new FieldSelector(requirements);
  // Split on unescaped commas, then each term on its first unescaped operator.
  const terms: string[] = [];
  let current = "";
  for (let i = 0; i < input.length; i++) {
    const c = input[i]!;
    if (c === "\\" && i + 1 < input.length) {
      current += c + input[i + 1]!;
      i++;
    } else if (c === ",") {
      terms.push(current);
      current = "";
    } else {
      current += c;
    }
  }
  terms.push(current);
  for (const term of terms) {
    let opAt = -1;
    let opLength = 0;
    let operator: "=" | "!=" = "=";
    for (let i = 0; i < term.length; i++) {
      const c = term[i]!;
      if (c === "\\") {
        i++;
        continue;
      }
      if (c === "!" && term[i + 1] === "=") {
        [opAt, opLength, operator] = [i, 2, "!="];
        break;
      }
      if (c === "=") {
        [opAt, opLength, operator] = [i, term[i + 1] === "=" ? 2 : 1, "="];
        break;
      }
    }
    if (opAt < 0)
      throw badRequest(
        `invalid field selector "${input}": "${term}" is not of the form field=value or field!=value`,
      );
    const field = term.slice(0, opAt).trim();
    const value = term.slice(opAt + opLength).replace(/\\(.)/g, "$1");
    if (!supported.includes(field)) {
      throw badRequest(`invalid field selector "${input}": field label not supported: ${field}`);
    }
    requirements.push({ field, operator, value });
  }
  return new FieldSelector(requirements);
}

/** Normalizes a field selector in string or parsed form. */
export function toFieldSelector(input: string | FieldSelector): FieldSelector {
  return typeof input === "string" ? parseFieldSelector(input) : input;
}
