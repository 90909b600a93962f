// Chinese by default, English on request; the choice is remembered on this device.
// Elements carry data-i18n="key" (text), data-i18n-label (aria-label), data-i18n-placeholder.

export function makeI18n(strings, storageKey) {
  let lang = localStorage.getItem(storageKey) || "zh";
  if (!strings[lang]) lang = "zh";
  const listeners = [];

  function t(key, vars = {}) {
    const text = strings[lang][key] ?? strings.zh[key] ?? key;
    return text.replace(/\{(\w+)\}/g, (_, name) => (vars[name] ?? `{${name}}`));
  }

  function apply(root = document) {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
    for (const el of root.querySelectorAll("[data-i18n-label]")) el.setAttribute("aria-label", t(el.dataset.i18nLabel));
    for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.setAttribute("placeholder", t(el.dataset.i18nPlaceholder));
    const title = document.querySelector("title[data-i18n]");
    if (title) document.title = t(title.dataset.i18n);
  }

  function setLang(value) {
    lang = value;
    localStorage.setItem(storageKey, value);
    apply();
    for (const fn of listeners) fn(lang);
  }

  return {
    t, apply, setLang,
    get lang() { return lang; },
    onChange(fn) { listeners.push(fn); },
    // Text that the service sends in both languages ({zh, en}).
    pick(pair) { return pair ? (pair[lang] || pair.zh || pair.en || "") : ""; },
    date(value) {
      if (!value) return "";
      const d = new Date(value.length === 10 ? `${value}T00:00:00` : value);
      return d.toLocaleDateString(lang === "zh" ? "zh-CN" : "en-GB", { year: "numeric", month: "long", day: "numeric" });
    },
    dateTime(value) {
      if (!value) return "";
      return new Date(value).toLocaleString(lang === "zh" ? "zh-CN" : "en-GB", { dateStyle: "medium", timeStyle: "short" });
    },
  };
}
