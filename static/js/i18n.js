// @ts-check
// Chinese by default, English on request; the choice is remembered on this device.
// Elements carry data-i18n="key" (text), data-i18n-label (aria-label), data-i18n-placeholder.

/**
 * Texts by language ("zh", "en"), then by key.
 * @typedef {Record<string, Record<string, string>>} Strings
 */
/**
 * Text the service sends in both languages.
 * @typedef {{ zh?: string, en?: string }} Pair
 */

/**
 * @param {Strings} strings
 * @param {string} storageKey where the chosen language is remembered
 */
export function makeI18n(strings, storageKey) {
  let lang = localStorage.getItem(storageKey) || "zh";
  if (!strings[lang]) lang = "zh";
  /** @type {((lang: string) => void)[]} */
  const listeners = [];

  /**
   * The text of `key` in the current language (Chinese if missing), {name} filled from vars.
   * @param {string} key
   * @param {Record<string, string | number>} [vars]
   * @returns {string}
   */
  function t(key, vars = {}) {
    const text = strings[lang][key] ?? strings.zh[key] ?? key;
    return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? `{${name}}`));
  }

  /** @param {ParentNode} [root] */
  function apply(root = document) {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.getAttribute("data-i18n") || "");
    for (const el of root.querySelectorAll("[data-i18n-label]")) el.setAttribute("aria-label", t(el.getAttribute("data-i18n-label") || ""));
    for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.setAttribute("placeholder", t(el.getAttribute("data-i18n-placeholder") || ""));
    /** @type {HTMLTitleElement | null} */
    const title = document.querySelector("title[data-i18n]");
    if (title) document.title = t(title.dataset.i18n);
  }

  /** @param {string} value */
  function setLang(value) {
    lang = value;
    localStorage.setItem(storageKey, value);
    apply();
    for (const fn of listeners) fn(lang);
  }

  return {
    t, apply, setLang,
    /** @param {string} key whether there is a text for key, in any language */
    has(key) { return key in strings[lang] || key in strings.zh; },
    get lang() { return lang; },
    /** @param {(lang: string) => void} fn */
    onChange(fn) { listeners.push(fn); },
    /** @param {Pair | null | undefined} pair */
    pick(pair) { return pair ? (pair[lang] || pair.zh || pair.en || "") : ""; },
    /** @param {string | null | undefined} value an ISO date or date-time */
    date(value) {
      if (!value) return "";
      const d = new Date(value.length === 10 ? `${value}T00:00:00` : value);
      return d.toLocaleDateString(lang === "zh" ? "zh-CN" : "en-GB", { year: "numeric", month: "long", day: "numeric" });
    },
    /** @param {string | null | undefined} value an ISO date-time */
    dateTime(value) {
      if (!value) return "";
      return new Date(value).toLocaleString(lang === "zh" ? "zh-CN" : "en-GB", { dateStyle: "medium", timeStyle: "short" });
    },
  };
}
