/** Reading a whole list from a Backend, a page at a time. */
import type { Backend, ListOptions, ObjectList, StoredObject } from "../backend/backend.js";
import type { AnyKind } from "../model/kind.js";

/** The pages of a list of `kind`, 500 objects each, in order, until the last. */
export async function* listPages(
  backend: Backend,
  kind: AnyKind,
  options: ListOptions,
): AsyncGenerator<ObjectList> {
  let token: string | undefined;
  // Later pages read the first page's revision through their token, which carries it.
  const { resourceVersion, resourceVersionMatch, ...rest } = options;
  do {
    const page = await backend.list(
      kind,
      token
        ? { ...rest, limit: 500, continue: token }
        : {
            ...rest,
            limit: 500,
            ...(resourceVersion === undefined ? {} : { resourceVersion }),
            ...(resourceVersionMatch === undefined ? {} : { resourceVersionMatch }),
          },
    );
    yield page;
    token = page.continue;
  } while (token);
}

/** Every item of a list, through every page, and the revision of the first. */
export async function listAll(
  backend: Backend,
  kind: AnyKind,
  options: ListOptions,
): Promise<{ items: StoredObject[]; resourceVersion: string }> {
  const items: StoredObject[] = [];
  let resourceVersion = "";
  for await (const page of listPages(backend, kind, options)) {
    items.push(...page.items);
    resourceVersion ||= page.resourceVersion;
  }
  return { items, resourceVersion };
}
