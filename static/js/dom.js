// @ts-check
// Element lookup shared by the pages: by id, with the kind of element the caller relies on
// checked once at run time (and known to the type checker).

/**
 * The element with this id. With a `kind` (HTMLInputElement, HTMLVideoElement, ...) it is
 * checked to be one, so `.value`, `.checked` or `.srcObject` are safe to use.
 * @template {Element} [E=HTMLElement]
 * @param {string} id
 * @param {new () => E} [kind]
 * @returns {E}
 */
export function $(id, kind) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`no element #${id}`);
  if (kind && !(node instanceof kind)) throw new Error(`#${id} is not a ${kind.name}`);
  return /** @type {E} */ (/** @type {unknown} */ (node));
}
